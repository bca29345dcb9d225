/* SVG helpers for the small inline charts: element builder, scales, ticks, quantiles, resize hook. */
(function () {
  'use strict';
  var lib = window.Caricatures.lib;
  var NS = 'http://www.w3.org/2000/svg';

  /** Create an SVG element with attributes ("text" sets textContent, "class" the class). */
  lib.s = function (tag, attrs, children) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === 'text') node.textContent = value;
      else node.setAttribute(name, String(value));
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  };

  /** Return a function mapping [d0, d1] linearly onto [r0, r1] (log10 when log is true). */
  lib.scale = function (d0, d1, r0, r1, log) {
    var f = log ? function (v) { return Math.log10(Math.max(v, 1e-12)); } : function (v) { return v; };
    var a = f(d0), b = f(d1);
    var k = b === a ? 0 : (r1 - r0) / (b - a);
    return function (v) { return b === a ? (r0 + r1) / 2 : r0 + (f(v) - a) * k; };
  };

  /** Draw reference values ([{value, label}]) across [x1, x2] as dashed lines labelled at their right end. */
  lib.refLines = function (svg, refs, y, x1, x2) {
    (refs || []).forEach(function (r) {
      svg.appendChild(lib.s('line', { class: 'cv-ref-line', x1: x1, x2: x2, y1: y(r.value), y2: y(r.value) }));
      svg.appendChild(lib.s('text', { class: 'cv-ref-label', x: x2 - 2, y: y(r.value) - 3, 'text-anchor': 'end',
        text: r.label }));
    });
  };

  /** Return about `count` round tick values covering [lo, hi] (powers of ten when log is true). */
  lib.ticks = function (lo, hi, count, log) {
    if (!(hi > lo)) return [lo];
    if (log) {
      var out = [];
      for (var e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
        var v = Math.pow(10, e);
        if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
      }
      return out.length >= 2 ? out : [lo, hi];
    }
    var raw = (hi - lo) / Math.max(1, count);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * mag; }).find(function (s) { return s >= raw; });
    var ticks = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
    return ticks;
  };

  /** Return the q-quantile (0..1) of an ascending array by linear interpolation. */
  lib.quantile = function (sorted, q) {
    if (!sorted.length) return NaN;
    var pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  };

  /** Return [min, max] of the numbers, padded by `pad` of the span (a zero span widens by 1). */
  lib.extent = function (values, pad) {
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    if (!isFinite(lo)) return [0, 1];
    if (hi === lo) return [lo - 1, hi + 1];
    var p = (hi - lo) * (pad || 0);
    return [lo - p, hi + p];
  };

  /** Call draw(width) now and whenever `node`'s content width changes (rounded to whole pixels). */
  lib.onResize = function (node, draw) {
    var last = -1;
    function run() {
      var w = Math.round(node.clientWidth);
      if (w > 0 && w !== last) { last = w; draw(w); }
    }
    if (window.ResizeObserver) new ResizeObserver(function () { window.requestAnimationFrame(run); }).observe(node);
    else window.addEventListener('resize', run);
    run();
  };
})();
