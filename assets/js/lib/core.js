/* Figure runtime core: the Caricatures namespace plus DOM, data-checking and number-format helpers. */
(function () {
  'use strict';
  var C = (window.Caricatures = window.Caricatures || {});
  C.views = C.views || {};
  C.figures = C.figures || {};
  var lib = (C.lib = C.lib || {});

  /** Create an element: attrs maps names to values ("class", "text", "style" object, else setAttribute). */
  lib.h = function (tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === 'class') node.className = value;
      else if (name === 'text') node.textContent = value;
      else if (name === 'style') Object.assign(node.style, value);
      else node.setAttribute(name, value === true ? '' : String(value));
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
      }
    });
    return node;
  };

  /** Error for malformed figure data; main.js shows its message inside the figure. */
  lib.DataError = function (message) {
    this.name = 'DataError';
    this.message = message;
    this.stack = new Error(message).stack;
  };
  lib.DataError.prototype = Object.create(Error.prototype);

  /** Return data[name] as a non-empty array, or throw a DataError naming the view and field. */
  lib.list = function (data, name, view, optional) {
    var value = data[name];
    if ((value === undefined || value === null) && optional) return [];
    if (!Array.isArray(value) || (!optional && value.length === 0)) {
      throw new lib.DataError(view + ': data.' + name + ' must be a ' + (optional ? '' : 'non-empty ') +
        'list (see docs/VIEWS.md)');
    }
    value.forEach(function (item, i) {
      if (!item || typeof item !== 'object' || typeof item.key !== 'string') {
        throw new lib.DataError(view + ': data.' + name + '[' + i + '] needs a string "key"');
      }
    });
    return value;
  };

  /** Return the index in `items` of the item whose key is `key`, else `fallback` (default 0). */
  lib.indexOf = function (items, key, fallback) {
    for (var i = 0; i < items.length; i++) if (items[i].key === key) return i;
    return fallback === undefined ? 0 : fallback;
  };

  // A share strictly between 0 and 1 never reads as 0% or 100%: add digits (up to 2) until it does not,
  // and say ">99.99%" or "<0.01%" for one that still would.
  function percent(value, digits) {
    var out = (value * 100).toFixed(digits);
    var inside = value > 0 && value < 1;
    while (digits < 2 && inside && (Number(out) === 100 || Number(out) === 0)) {
      digits += 1;
      out = (value * 100).toFixed(digits);
    }
    var step = Math.pow(10, -digits);
    if (inside && Number(out) === 100) return '>' + (100 - step).toFixed(digits) + '%';
    if (inside && Number(out) === 0) return '<' + step.toFixed(digits) + '%';
    return out + '%';
  }

  /** Format a number with a d3-like spec: ".2f", ".3g", ".1%", "d", ",d", ".2e"; non-numbers pass through. */
  lib.fmt = function (value, spec) {
    if (typeof value !== 'number') return value === undefined || value === null ? '–' : String(value);
    if (!isFinite(value)) return value > 0 ? '∞' : value < 0 ? '−∞' : '–';
    var m = /^(,)?(?:\.(\d+))?([fgde%])?$/.exec(spec || '.3g') || [null, null, '3', 'g'];
    var digits = m[2] === undefined ? null : Number(m[2]);
    var out;
    switch (m[3] || 'g') {
      case 'f': out = value.toFixed(digits === null ? 2 : digits); break;
      case '%': out = percent(value, digits === null ? 0 : digits); break;
      case 'd': out = String(Math.round(value)); break;
      case 'e': out = value.toExponential(digits === null ? 2 : digits); break;
      default: out = String(Number(value.toPrecision(Math.max(1, digits === null ? 3 : digits))));
    }
    if (m[1]) out = out.replace(/^(-?\d+)/, function (s) { return s.replace(/\B(?=(\d{3})+(?!\d))/g, ','); });
    if (/^-[0.,]*(%|e[+-]?\d+)?$/.test(out)) out = out.slice(1);   // rounds to zero: "0.00", never "−0.00"
    return out.replace(/^-/, '−').replace(/e-/, 'e−');
  };

  /** Format tick values with `spec`, adding digits until no two labels read the same (a narrow range at
      ".2f" would otherwise label every tick "1.00"). */
  lib.tickLabels = function (ticks, spec) {
    var m = /^(,)?(?:\.(\d+))?([fgde%])?$/.exec(spec || '.3g') || [null, null, '3', 'g'];
    var kind = m[3] || 'g', digits = m[2] === undefined ? (kind === 'g' ? 3 : 2) : Number(m[2]);
    for (var extra = 0; extra <= 6; extra++) {
      var labels = ticks.map(function (t) { return lib.fmt(t, (m[1] || '') + '.' + (digits + extra) + kind); });
      if (new Set(labels).size === labels.length) return labels;
    }
    return labels;
  };

  /** Describe `metrics` ({name: number}) as "label value" parts in the order of `defs` (or key order). */
  lib.metricParts = function (metrics, defs) {
    if (!metrics) return [];
    var list = defs && defs.length ? defs : Object.keys(metrics).map(function (k) { return { key: k }; });
    return list.filter(function (d) { return metrics[d.key] !== undefined; }).map(function (d) {
      return (d.label || d.key) + ' ' + lib.fmt(metrics[d.key], d.format) + (d.suffix || '');
    });
  };

  /** Deterministic pseudo-random number in [0, 1) from an integer (for jitter that does not move). */
  lib.hash01 = function (n) {
    var x = Math.sin((n + 1) * 12.9898) * 43758.5453;
    return x - Math.floor(x);
  };

  // Hover that ignores the pointer "entering" an item only because keyboard focus scrolled it under a
  // resting mouse: such events repeat the last known coordinates.
  var lastX = null, lastY = null, keyboard = false;
  function moved(ev) {
    var changed = ev.clientX !== lastX || ev.clientY !== lastY;
    lastX = ev.clientX;
    lastY = ev.clientY;
    if (changed) keyboard = false;
    return changed;
  }
  document.addEventListener('keydown', function () { keyboard = true; }, true);
  document.addEventListener('mousemove', moved, true);

  /** Call fn(event) when the mouse (or a tap's emulated mouse) enters `node`, not on keyboard-driven scrolls. */
  lib.onHover = function (node, fn) {
    node.addEventListener('mouseenter', function (ev) {
      moved(ev);
      if (!keyboard) fn(ev);
    });
  };

  var counter = 0;
  /** Return a page-unique id with the given prefix. */
  lib.uid = function (prefix) {
    counter += 1;
    return (prefix || 'cv') + '-' + counter;
  };
})();
