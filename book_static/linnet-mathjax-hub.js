// The Jupyter widget manager (html-manager 1.0) typesets widget labels with MathJax 2's
// MathJax.Hub.Queue; the book loads MathJax 3, which has no Hub. Once MathJax 3 has started
// (its deferred script runs before DOMContentLoaded), give it a Hub whose Queue typesets the page.
document.addEventListener("DOMContentLoaded", function () {
  var mj = window.MathJax;
  if (mj && !mj.Hub) {
    mj.Hub = {
      Queue: function () {
        if (mj.typesetPromise) {
          mj.typesetPromise();
        }
      },
      Config: function () {},
    };
  }
});
