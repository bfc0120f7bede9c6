/* reportgen: draw every chart of the page from its inline Vega-Lite spec (no network). */
(function () {
  "use strict";
  var nodes = document.querySelectorAll("[data-vega-spec]");
  Array.prototype.forEach.call(nodes, function (el) {
    var source = document.getElementById(el.getAttribute("data-vega-spec"));
    var spec = JSON.parse(source.textContent);
    var options = { actions: false, renderer: el.getAttribute("data-renderer") || "svg" };
    vegaEmbed(el, spec, options)
      .then(function () {
        el.setAttribute("data-rendered", "true");
      })
      .catch(function (err) {
        el.classList.add("chart-error");
        el.textContent = "This chart could not be drawn: " + err;
        console.error(err);
      });
  });
})();
