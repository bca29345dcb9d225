/* chart view: small SVG line/point/strip panels sharing an x axis, with tooltips on hover and keyboard focus. */
(function () {
  'use strict';
  var C = window.Caricatures;
  var lib = C.lib;

  C.views.chart = function mount(el, index, ctx) {
    var d = index.data || {};
    var panels = d.panels;
    var xs = d.x || {};
    if (!Array.isArray(panels) || !panels.length) throw new lib.DataError('chart: data.panels must be a non-empty list');
    var categories = xs.scale === 'category' ? lib.list(xs, 'categories', 'chart (x)') : null;
    var series = [];   // flattened: {panel, s, def, points: [{x, y, label, i}]}
    panels.forEach(function (panel, pi) {
      lib.list(panel, 'series', 'chart (panels[' + pi + '])').forEach(function (def, si) {
        if (!Array.isArray(def.points)) {
          throw new lib.DataError('chart: panels[' + pi + '].series[' + si + '].points must be a list of [x, y]');
        }
        var points = def.points.map(function (pt, i) {
          var ok = Array.isArray(pt) && typeof pt[1] === 'number' &&
            (categories ? lib.indexOf(categories, pt[0], -1) >= 0 : typeof pt[0] === 'number');
          if (!ok) {
            throw new lib.DataError('chart: panels[' + pi + '].series[' + si + '].points[' + i + '] must be [' +
              (categories ? 'category key' : 'number') + ', number], got ' + JSON.stringify(pt));
          }
          return { x: categories ? lib.indexOf(categories, pt[0]) : pt[0], y: pt[1], label: pt[2], i: i };
        });
        series.push({ panel: pi, def: def, points: points, color: 0 });
      });
    });
    // A series' colour: its own `color` (a palette index, e.g. one hue per data set) or one per key; `shade:
    // "light"` draws it lighter (e.g. an earlier checkpoint of the same data set).
    var uniqueKeys = [];
    series.forEach(function (s) {
      if (lib.indexOf(uniqueKeys, s.def.key, -1) < 0) {
        uniqueKeys.push({ key: s.def.key, label: s.def.label, color: s.def.color, shade: s.def.shade });
      }
      var k = lib.indexOf(uniqueKeys, s.def.key);
      s.color = (typeof s.def.color === 'number' ? s.def.color : k) % 6;
      s.shade = s.def.shade === 'light' ? ' cv-light' : '';
    });

    var allX = [];
    series.forEach(function (s) { s.points.forEach(function (p) { allX.push(p.x); }); });
    var xLog = xs.scale === 'log';
    if (xLog && allX.some(function (v) { return !(v > 0); })) {
      throw new lib.DataError('chart: x.scale "log" needs every point\'s x > 0 (use "linear", or drop x = 0)');
    }
    var svg = lib.s('svg', { class: 'cv-chart', role: 'group', 'aria-label': d.label || index.title || 'chart' });
    var tip = lib.h('div', { class: 'cv-tooltip', role: 'status', hidden: true });
    var box = lib.h('div', { class: 'cv-chart-box' }, [svg, tip]);
    var legend = uniqueKeys.length > 1 ? lib.h('div', { class: 'cv-legend' }, uniqueKeys.map(function (k, i) {
      var color = (typeof k.color === 'number' ? k.color : i) % 6;
      return lib.h('span', { class: 'cv-legend-item cv-s' + color + (k.shade === 'light' ? ' cv-light' : '') },
        [lib.h('span', { class: 'cv-swatch' }),
        k.label || k.key]);
    })) : null;
    var root = lib.h('div', { class: 'cv cv-chartview' }, [legend, box]);
    el.appendChild(root);

    var xDomain = categories ? [-0.5, categories.length - 0.5]
      : [xs.min !== undefined ? xs.min : Math.min.apply(null, allX), xs.max !== undefined ? xs.max : Math.max.apply(null, allX)];
    var pinned = null, entries = [], rover = null;

    function describe(s, p) {
      var xText = categories ? (categories[p.x].label || categories[p.x].key) : lib.fmt(p.x, xs.format || '.4g');
      var yDef = panels[s.panel].y || {};
      return (s.def.label || s.def.key) + ' · ' + (xs.label ? xs.label + ' ' : '') + xText + ': ' +
        (yDef.label ? yDef.label + ' ' : '') + lib.fmt(p.y, yDef.format) + (p.label ? ' (' + p.label + ')' : '');
    }
    function showTip(entry) {
      entries.forEach(function (e) { e.node.classList.toggle('is-shown', e === entry); });
      if (!entry) { tip.hidden = true; return; }
      tip.textContent = describe(entry.series, entry.point);
      tip.hidden = false;
      var cx = Number(entry.node.getAttribute('cx')), cy = Number(entry.node.getAttribute('cy'));
      var w = tip.offsetWidth, bw = box.clientWidth;
      tip.style.left = Math.max(0, Math.min(bw - w, cx - w / 2)) + 'px';
      tip.style.top = Math.max(0, cy - tip.offsetHeight - 10) + 'px';
    }

    function draw(width) {
      var focused = entries.findIndex(function (e) { return e.node === document.activeElement; });
      var current = rover ? rover.current() : 0;
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      var panelH = d.panel_height || 140, gap = 26, left = 52, right = 12, top = 20, bottom = 34;
      var height = top + panels.length * (panelH + gap) - gap + bottom;
      svg.setAttribute('width', width);
      svg.setAttribute('height', height);
      var x = lib.scale(xDomain[0], xDomain[1], left, width - right, xLog);
      var xTicks = categories ? categories.map(function (c, i) { return i; })
        : xs.ticks || lib.ticks(xDomain[0], xDomain[1], Math.max(2, Math.floor((width - left) / 70)), xLog);
      entries = [];
      panels.forEach(function (panel, pi) {
        var yDef = panel.y || {}, y0 = top + pi * (panelH + gap), ys = [];
        series.forEach(function (s) { if (s.panel === pi) s.points.forEach(function (p) { ys.push(p.y); }); });
        var refs = yDef.refs || [];   // reference values drawn as dashed lines, e.g. a chance level
        refs.forEach(function (r) { ys.push(r.value); });
        var ext = lib.extent(ys, yDef.scale === 'log' ? 0 : 0.06);
        var lo = yDef.min !== undefined ? yDef.min : ext[0], hi = yDef.max !== undefined ? yDef.max : ext[1];
        var y = lib.scale(lo, hi, y0 + panelH, y0, yDef.scale === 'log');
        var yTicks = lib.ticks(lo, hi, Math.max(2, Math.round(panelH / 40)), yDef.scale === 'log');
        var yLabels = lib.tickLabels(yTicks, yDef.tick_format || '.3g');
        yTicks.forEach(function (t, k) {
          svg.appendChild(lib.s('line', { class: 'cv-grid-line', x1: left, x2: width - right, y1: y(t), y2: y(t) }));
          svg.appendChild(lib.s('text', { class: 'cv-tick', x: left - 5, y: y(t) + 3, 'text-anchor': 'end',
            text: yLabels[k] }));
        });
        lib.refLines(svg, refs, y, left, width - right);
        svg.appendChild(lib.s('text', { class: 'cv-axis-label', x: left, y: y0 - 8, text: yDef.label || '' }));
        series.forEach(function (s) {
          if (s.panel !== pi) return;
          var kind = s.def.kind || 'line', cls = 'cv-s' + s.color + s.shade;
          var px = function (p) {
            var jitter = kind === 'strip' && categories ? (lib.hash01(p.i * 7 + s.color) - 0.5) * 0.4 : 0;
            return x(p.x + jitter);
          };
          if (kind === 'line') {
            svg.appendChild(lib.s('polyline', { class: 'cv-line ' + cls,
              points: s.points.map(function (p) { return px(p) + ',' + y(p.y); }).join(' ') }));
          }
          s.points.forEach(function (p) {
            var dot = lib.s('circle', { class: 'cv-pt ' + cls + (kind === 'strip' ? ' cv-pt-strip' : ''),
              cx: px(p), cy: y(p.y), r: kind === 'strip' ? 3 : 3.5, 'aria-label': describe(s, p), role: 'img' });
            svg.appendChild(dot);
            entries.push({ node: dot, r: series.indexOf(s), c: p.i, series: s, point: p });
          });
        });
      });
      var xLabels = categories ? null : lib.tickLabels(xTicks, xs.format || '.4g');
      xTicks.forEach(function (t, k) {
        svg.appendChild(lib.s('text', { class: 'cv-tick', x: x(t), y: height - bottom + 16, 'text-anchor': 'middle',
          text: categories ? (categories[t].short || categories[t].label || categories[t].key) : xLabels[k] }));
      });
      if (xs.label) {
        svg.appendChild(lib.s('text', { class: 'cv-axis-label', x: width - right, y: height - 4, 'text-anchor': 'end',
          text: xs.label }));
      }
      rover = lib.roving(entries, {
        mode: 'grid', initial: current,
        onFocus: function (i) { showTip(entries[i]); },
        onSelect: function (i) { pinned = pinned === entries[i] ? null : entries[i]; showTip(entries[i]); },
      });
      entries.forEach(function (e) {
        lib.onHover(e.node, function () { showTip(e); });
        e.node.addEventListener('mouseleave', function () { showTip(pinned); });
        e.node.addEventListener('click', function () { pinned = e; showTip(e); });
        e.node.addEventListener('blur', function () { showTip(pinned); });
        e.node.addEventListener('keydown', function (ev) {
          if (ev.key === 'Escape') { pinned = null; showTip(null); }
        });
      });
      pinned = null;
      tip.hidden = true;
      if (focused >= 0 && entries[focused]) entries[focused].node.focus();
    }
    lib.onResize(box, draw);
  };
})();
