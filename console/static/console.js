// fundledger console: draws each chart (ECharts) from the option JSON the
// server wrote in its data-option attribute, on load and after every htmx
// swap; charts follow the container's width.
(function () {
  "use strict";
  function draw(root) {
    if (!window.echarts) { return; }
    (root || document).querySelectorAll(".chart[data-option]").forEach(function (el) {
      if (el.dataset.drawn) { return; }
      try {
        var chart = window.echarts.init(el, null, { renderer: "canvas" });
        chart.setOption(JSON.parse(el.dataset.option));
        el.dataset.drawn = "1";
      } catch (e) {
        el.textContent = String(e);
      }
    });
  }
  window.addEventListener("resize", function () {
    document.querySelectorAll(".chart[data-drawn]").forEach(function (el) {
      var c = window.echarts && window.echarts.getInstanceByDom(el);
      if (c) { c.resize(); }
    });
  });
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (ev) { draw(document); });
  // After a boosted page swap, put the keyboard focus on the new content.
  document.addEventListener("htmx:afterSettle", function (ev) {
    if (ev.detail && ev.detail.boosted) {
      var m = document.getElementById("main");
      if (m) { m.focus({ preventScroll: true }); }
    }
  });
})();
