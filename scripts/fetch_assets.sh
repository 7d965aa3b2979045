#!/usr/bin/env bash
# Fetch the JavaScript the HTML book needs into _vendor/ (gitignored), so pages load nothing from a CDN:
#   _vendor/mathjax/es5/       MathJax 3.2.2, copied from the pip wheel django-static-mathjax (in requirements.txt)
#   _vendor/widgets/           require.js 2.3.4 and @jupyter-widgets/html-manager 1.0.6 (embed-amd.js + its fonts),
#                              fetched with `npm pack` from the npm registry (needs node/npm, not a CDN),
#                              and widgets-config.js (written here) that points embed-amd.js at its fonts
# _config.yml serves _vendor/ through html_static_path. Usage: scripts/fetch_assets.sh PYTHON
# Idempotent: a stamp file records what was fetched and by which version of this script.
set -euo pipefail

PYTHON=${1:-python3}
REQUIREJS=requirejs@2.3.4
HTML_MANAGER=@jupyter-widgets/html-manager@1.0.6
VENDOR=_vendor
MATHJAX_SRC=$("$PYTHON" -c 'import mathjax, os; print(os.path.join(os.path.dirname(mathjax.__file__), "static", "mathjax"))')
STAMP_TEXT="script:$(sha256sum "$0" | cut -c1-12) mathjax:$(cat "$MATHJAX_SRC/package.json" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["version"])') $REQUIREJS $HTML_MANAGER"

if [[ -f $VENDOR/.stamp && "$(cat $VENDOR/.stamp)" == "$STAMP_TEXT" ]]; then
    echo "assets: up to date ($STAMP_TEXT)"
    exit 0
fi

rm -rf "$VENDOR"
mkdir -p "$VENDOR/mathjax" "$VENDOR/widgets"

# MathJax 3: the es5/ folder holds the combined components (tex-chtml-full.js) and the fonts they load.
cp -r "$MATHJAX_SRC/es5" "$VENDOR/mathjax/es5"
cp "$MATHJAX_SRC/LICENSE" "$VENDOR/mathjax/LICENSE"

# Widget manager: unpack the two npm tarballs in a temporary folder and keep only what a page loads.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent --pack-destination "$tmp" "$REQUIREJS" "$HTML_MANAGER" >/dev/null)
mkdir "$tmp/requirejs" "$tmp/html-manager"
tar -xzf "$tmp"/requirejs-*.tgz -C "$tmp/requirejs"
tar -xzf "$tmp"/jupyter-widgets-html-manager-*.tgz -C "$tmp/html-manager"
cp "$tmp/requirejs/package/require.js" "$VENDOR/widgets/require.js"
cp "$tmp/html-manager/package/dist/embed-amd.js" "$VENDOR/widgets/embed-amd.js"
# Fonts (Font Awesome, Lato) that embed-amd.js references next to itself.
cp "$tmp/html-manager/package/dist/"*.{woff,woff2,ttf,eot,svg} "$VENDOR/widgets/"
cp "$tmp/html-manager/package/LICENSE" "$VENDOR/widgets/LICENSE-html-manager"
# embed-amd.js resolves its fonts against the AMD name of its own module, relative to the page,
# unless require.js maps that name to this folder. A global `require` object defined before
# require.js loads is its configuration; _config.yml loads this script first.
cat >"$VENDOR/widgets/widgets-config.js" <<'JS'
var widgetsFolder = document.currentScript.src.replace(/\/[^/]*$/, "");
window.__jupyter_widgets_assets_path__ = widgetsFolder + "/";
var require = { paths: { "@jupyter-widgets/html-manager/dist": widgetsFolder } };
JS

echo "$STAMP_TEXT" >"$VENDOR/.stamp"
echo "assets: fetched into $VENDOR/ ($STAMP_TEXT, $(du -sh "$VENDOR" | cut -f1))"
