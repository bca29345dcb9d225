/* explorer view: many photos × a few layers, filtered by set; a layer's sprites load only once it is picked. */
(function () {
  'use strict';
  var C = window.Caricatures;
  var lib = C.lib;

  C.views.explorer = function mount(el, index, ctx) {
    var d = index.data || {};
    var layers = lib.list(d, 'layers', 'explorer');
    var photos = lib.list(d, 'photos', 'explorer');
    var sets = lib.list(d, 'sets', 'explorer', true);
    var cells = d.cells || {};
    var sprites = ctx.sprites;
    var init = d.initial || {};
    var cell = function (p, l) { return (cells[photos[p].key] || {})[layers[l].key] || null; };
    var where = function (p, l) { return 'cells.' + photos[p].key + '.' + layers[l].key + '.tile'; };
    var defs = d.metric_defs || Object.keys(photos.reduce(function (acc, photo, p) {
      layers.forEach(function (layer, l) { Object.assign(acc, (cell(p, l) || {}).metrics || {}); });
      return acc;
    }, {})).map(function (k) { return { key: k }; });

    photos.forEach(function (photo, p) {
      if (photo.photo) sprites.need(photo.photo, 'photos[' + p + '].photo');
      layers.forEach(function (layer, l) { if (cell(p, l)) sprites.need(cell(p, l).tile, where(p, l)); });
    });
    var setItems = [{ key: '', label: d.all_label || 'All' }].concat(sets);
    var state = { set: Math.max(0, lib.indexOf(setItems, init.set || '')), layer: lib.indexOf(layers, init.layer),
      selected: -1, shown: -1 };
    var visible = function (p) { return state.set === 0 || photos[p].set === setItems[state.set].key; };
    var firstVisible = function () { return photos.findIndex(function (photo, p) { return visible(p); }); };

    var setChoice = sets.length ? lib.choice({ label: d.set_label || 'Set', items: setItems, selected: state.set,
      caption: true, onSelect: function (i) { if (i !== state.set) { state.set = i; update(); } } }) : null;
    var layerChoice = lib.choice({ label: d.layer_label || 'Layer', items: layers, selected: state.layer,
      caption: true, onSelect: function (i) { if (i !== state.layer) { state.layer = i; update(); } } });
    var inspector = lib.inspector(sprites);
    var chartBox = lib.h('div', { class: 'cv-dist' });
    var status = lib.h('div', { class: 'cv-status', 'aria-live': 'polite' });
    var list = lib.h('div', { class: 'cv-thumbs', role: 'listbox',
      'aria-label': d.label || 'Photos with their caricature at the chosen layer' });
    var items = photos.map(function (photo, p) {
      var pic = lib.h('div', { class: 'cv-tile cv-thumb' });
      var car = lib.h('div', { class: 'cv-tile cv-thumb' });
      var node = lib.h('div', { class: 'cv-item', role: 'option', 'aria-selected': 'false',
        'data-key': photo.key }, [lib.h('div', { class: 'cv-item-pair' }, [pic, car]),
        lib.h('span', { class: 'cv-item-label', text: photo.label || photo.key })]);
      list.appendChild(node);
      return { node: node, pic: pic, car: car, painted: null };
    });
    var root = lib.h('div', { class: 'cv cv-explorer' }, [
      lib.h('div', { class: 'cv-controls' }, [setChoice && setChoice.root, layerChoice.root]),
      lib.h('div', { class: 'cv-explorer-top' }, [inspector.root, chartBox]), status, list]);
    el.appendChild(root);

    sprites.load(sprites.sheetsOf(photos.map(function (photo) { return photo.photo; })));
    items.forEach(function (item, p) { sprites.paint(item.pic, photos[p].photo, 'photos[' + p + '].photo'); });

    var rover = lib.roving(items, {
      mode: 'geometric',
      onFocus: function (p) { select(p); },
      onSelect: function (p) { select(p); },
    });
    items.forEach(function (item, p) {
      lib.onHover(item.node, function () { show(p); });
      item.node.addEventListener('click', function () { select(p); });
    });
    root.addEventListener('mouseleave', function () { show(state.selected); });

    function show(p) {
      state.shown = p;
      items.forEach(function (item, q) { item.node.classList.toggle('is-shown', q === p); });
      renderInspector();
      chart.highlight(p);
    }
    function select(p) {
      state.selected = p;
      items.forEach(function (item, q) { item.node.setAttribute('aria-selected', q === p ? 'true' : 'false'); });
      show(p);
    }
    function renderInspector() {
      var p = state.shown, l = state.layer, layer = layers[l];
      if (p < 0) {
        inspector.show({ title: 'Hover or pick a photo', metrics: [] });
        return;
      }
      var info = cell(p, l), label = photos[p].label || photos[p].key, ready = !info || sprites.requested([info.tile]);
      inspector.show({
        photo: photos[p].photo, photoAlt: 'photo: ' + label, photoWhere: 'photos[' + p + '].photo',
        car: ready && info ? info.tile : null, carWhere: where(p, l), carCap: 'caricature at ' + (layer.label || layer.key),
        carAlt: 'caricature of ' + label + ' at ' + (layer.label || layer.key),
        title: label + ' · ' + (layer.label || layer.key),
        metrics: info ? lib.metricParts(info.metrics, defs) : ['not computed'],
      });
    }

    var loadToken = 0;
    // Show the photos of the chosen set; load the chosen layer's sheets before painting its tiles.
    function update() {
      var l = state.layer, token = ++loadToken, keys = [];
      var shownCount = 0;
      items.forEach(function (item, p) {
        var on = visible(p);
        item.node.hidden = !on;
        if (on) shownCount += 1;
        if (on && cell(p, l)) keys.push(cell(p, l).tile);
      });
      if (state.shown >= 0 && !visible(state.shown)) state.shown = -1;
      if (state.selected >= 0 && !visible(state.selected)) {   // the set hides the selected photo: take its first
        var first = firstVisible();
        if (first >= 0) rover.setCurrent(first);
        select(first);
      }
      rover.refresh();
      if (setChoice) setChoice.mark(state.set);
      layerChoice.mark(l);
      var ready = sprites.requested(keys);
      if (!ready) status.textContent = 'Loading ' + (layers[l].label || layers[l].key) + '…';
      root.classList.toggle('is-loading', !ready);
      items.forEach(function (item, p) { if (visible(p) && item.painted !== l) item.car.classList.add('cv-pending'); });
      sprites.load(sprites.sheetsOf(keys)).then(function () {
        if (token !== loadToken) return;
        items.forEach(function (item, p) {
          if (!visible(p) || item.painted === l) return;
          var info = cell(p, l);
          item.car.classList.remove('cv-pending');
          item.car.classList.toggle('cv-empty', !info);
          sprites.paint(item.car, info && info.tile, where(p, l));
          item.painted = l;
        });
        status.textContent = shownCount + (shownCount === 1 ? ' photo · ' : ' photos · ') +
          (layers[l].label || layers[l].key);
        root.classList.remove('is-loading');
        renderInspector();
      });
      chart.draw();
      renderInspector();
    }

    var chart = distribution(chartBox, defs, layers, photos, cell, visible, state);
    state.onDot = show;
    update();
    var first = lib.indexOf(photos, init.photo, firstVisible());
    if (first >= 0 && visible(first)) {
      rover.setCurrent(first);
      select(first);
    }
  };

  // A strip plot per metric: one column per layer, a dot per visible photo, a box for the quartiles.
  function distribution(box, defs, layers, photos, cell, visible, state) {
    var width = 320, dots = [], paths = [];
    var svg = lib.s('svg', { class: 'cv-chart', role: 'img' });
    box.appendChild(svg);
    var api = {
      draw: function () {
        while (svg.firstChild) svg.removeChild(svg.firstChild);
        dots = photos.map(function () { return []; });
        paths = [];
        // Each panel: a line for its label, then the plot; tick labels sit left of the plot, below its label.
        var panelH = 96, head = 20, gap = 10, top = 4, left = 44, right = 8, bottom = 22;
        var step = head + panelH + gap, plotsH = top + defs.length * step - gap;
        var bandW = (width - left - right) / layers.length;
        svg.setAttribute('width', width);
        svg.setAttribute('height', plotsH + bottom);
        svg.setAttribute('aria-label', 'Distribution of ' + defs.map(function (m) { return m.label || m.key; })
          .join(' and ') + ' per layer');
        svg.appendChild(lib.s('rect', { class: 'cv-band', x: left + state.layer * bandW, y: 0, width: bandW,
          height: plotsH }));
        defs.forEach(function (def, m) {
          var y0 = top + m * step + head, values = [];
          photos.forEach(function (photo, p) {   // every photo, shown or not: the axis stays put across sets
            layers.forEach(function (layer, l) {
              var v = ((cell(p, l) || {}).metrics || {})[def.key];
              if (typeof v === 'number' && isFinite(v)) values.push(v);
            });
          });
          var refs = def.refs || [];   // reference values, e.g. gain 1: as extreme as the photo itself
          var ext = lib.extent((values.length ? values : [0, 1]).concat(refs.map(function (r) { return r.value; })),
            0.08);
          var y = lib.scale(ext[0], ext[1], y0 + panelH, y0);
          var ticks = lib.ticks(ext[0], ext[1], 3), labels = lib.tickLabels(ticks, '.3g');
          ticks.forEach(function (t, k) {
            svg.appendChild(lib.s('line', { class: 'cv-grid-line', x1: left, x2: width - right, y1: y(t), y2: y(t) }));
            svg.appendChild(lib.s('text', { class: 'cv-tick', x: left - 4, y: y(t) + 3, 'text-anchor': 'end',
              text: labels[k] }));
          });
          lib.refLines(svg, refs, y, left, width - right);
          if (m === 0) {   // the legend of the line that follows the picked photo across the layers
            svg.appendChild(lib.s('line', { class: 'cv-trace-key', x1: width - right - 118,
              x2: width - right - 104, y1: y0 - 14, y2: y0 - 14 }));
            svg.appendChild(lib.s('text', { class: 'cv-trace-label', x: width - right, y: y0 - 11,
              'text-anchor': 'end', text: 'picked photo' }));
          }
          svg.appendChild(lib.s('text', { class: 'cv-axis-label', x: 2, y: y0 - 10, text: def.label || def.key }));
          layers.forEach(function (layer, l) {
            var cx = left + (l + 0.5) * bandW, vals = [];
            photos.forEach(function (photo, p) {
              var v = ((cell(p, l) || {}).metrics || {})[def.key];
              if (!visible(p) || typeof v !== 'number' || !isFinite(v)) return;
              vals.push(v);
              var dot = lib.s('circle', { class: 'cv-dot', r: 2.5, cy: y(v),
                cx: cx + (lib.hash01(p) - 0.5) * bandW * 0.5 });
              dot.metric = m;
              lib.onHover(dot, function () { state.onDot(p); });
              svg.appendChild(dot);
              dots[p].push(dot);
            });
            vals.sort(function (a, b) { return a - b; });
            if (vals.length >= 4) {
              var q1 = lib.quantile(vals, 0.25), q3 = lib.quantile(vals, 0.75), med = lib.quantile(vals, 0.5);
              svg.appendChild(lib.s('rect', { class: 'cv-box', x: cx - bandW * 0.3, width: bandW * 0.6,
                y: y(q3), height: Math.max(1, y(q1) - y(q3)) }));
              svg.appendChild(lib.s('line', { class: 'cv-median', x1: cx - bandW * 0.3, x2: cx + bandW * 0.3,
                y1: y(med), y2: y(med) }));
            }
          });
          var path = lib.s('polyline', { class: 'cv-trace', points: '' });
          svg.appendChild(path);
          paths.push(path);
        });
        layers.forEach(function (layer, l) {
          svg.appendChild(lib.s('text', { class: 'cv-tick' + (l === state.layer ? ' is-selected' : ''),
            x: left + (l + 0.5) * bandW, y: plotsH + 14, 'text-anchor': 'middle',
            text: layer.short || layer.label || layer.key }));
        });
        api.highlight(state.shown);
      },
      // Enlarge the photo's dots and join them across layers.
      highlight: function (p) {
        dots.forEach(function (list, q) { list.forEach(function (dot) { dot.classList.toggle('is-shown', q === p); }); });
        if (p >= 0 && dots[p]) dots[p].forEach(function (dot) { svg.appendChild(dot); });
        paths.forEach(function (path, m) {
          var pts = p >= 0 && dots[p] ? dots[p].filter(function (dot) { return dot.metric === m; }) : [];
          path.setAttribute('points', pts.map(function (dot) {
            return dot.getAttribute('cx') + ',' + dot.getAttribute('cy');
          }).join(' '));
        });
      },
    };
    state.onDot = function () {};
    lib.onResize(box, function (w) { width = Math.max(220, Math.min(w, 520)); api.draw(); });
    return api;
  }
})();
