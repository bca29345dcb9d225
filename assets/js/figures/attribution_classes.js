/* attribution_classes: the classes view for one photo and layer at a time, with a photo strip and a layer switch.

Data (figures/attribution_classes.py): photos [{key, label, photo}], layers [{key, label}],
panels {photoKey: {items: [classes-view items whose tile/attribution/metrics sit in cells[layerKey]], initial}},
plus overlay_opacity, overlay_label, metric_defs and initial {photo, layer}. Picking a photo or layer remounts
the classes view, keeping the chosen class (same photo) and the overlay checkbox. Optional: remedy_cells
{photoKey: {layerKey: {objective: {tile, p, cosine}}}} with remedy_labels {objective: label}, shown as a row of
cards for the chosen photo and layer (hidden at layers without them), and a fixed table
{label, row_label, columns: [{key, label, format}], rows: [{key, label, values: {columnKey: number}}]}.
*/
(function () {
  'use strict';
  var C = window.Caricatures;
  var lib = C.lib;
  var NAME = 'attribution_classes';

  C.figures[NAME] = function mount(el, index, ctx) {
    var d = index.data || {};
    var photos = lib.list(d, 'photos', NAME);
    var layers = lib.list(d, 'layers', NAME);
    var panels = d.panels || {};
    var init = d.initial || {};
    var sel = { p: lib.indexOf(photos, init.photo), l: lib.indexOf(layers, init.layer) };
    photos.forEach(function (photo, p) {
      if (!panels[photo.key]) throw new lib.DataError(NAME + ': data.panels has no entry for photo "' + photo.key + '"');
      lib.list(panels[photo.key], 'items', NAME + ' panels.' + photo.key);
      if (photo.photo) ctx.sprites.need(photo.photo, 'photos[' + p + '].photo');
    });

    function view(classKey) {
      var photo = photos[sel.p], layer = layers[sel.l], panel = panels[photo.key];
      var items = panel.items.map(function (item) {
        var cell = (item.cells || {})[layer.key] || {};
        return Object.assign({}, item, { tile: cell.tile, attribution: cell.attribution, metrics: cell.metrics });
      });
      return Object.assign({}, index, { data: {
        photo: { label: photo.label || photo.key, tile: photo.photo }, items: items,
        layer_label: layer.label || layer.key, overlay_opacity: d.overlay_opacity, overlay_label: d.overlay_label,
        metric_defs: d.metric_defs, label: 'Classes of ' + (photo.label || photo.key),
        list_label: d.list_label, initial: classKey || panel.initial } });
    }

    var holder = lib.h('div', { class: 'cv-classes-holder' });
    var remedyCells = d.remedy_cells || {}, remedyLabels = d.remedy_labels || {};
    Object.keys(remedyCells).forEach(function (pk) {
      Object.keys(remedyCells[pk]).forEach(function (lk) {
        Object.keys(remedyCells[pk][lk]).forEach(function (o) {
          ctx.sprites.need(remedyCells[pk][lk][o].tile, 'remedy_cells.' + pk + '.' + lk + '.' + o + '.tile');
        });
      });
    });
    var strip = lib.h('div', { class: 'cv-remedies' });
    var renderTable = function () {};
    function renderStrip() {
      renderTable();
      var photo = photos[sel.p], layer = layers[sel.l];
      var cells = (remedyCells[photo.key] || {})[layer.key];
      strip.textContent = '';
      strip.hidden = !cells;
      if (!cells) return;
      strip.appendChild(lib.h('p', { class: 'cv-matrix-label', text: (photo.label || photo.key) + ' toward its top class at ' +
        (layer.short || layer.key) + ', with each objective' }));
      var row = lib.h('div', { class: 'cv-remedy-row' });
      Object.keys(cells).forEach(function (o) {
        var tile = lib.h('div', { class: 'cv-tile', role: 'img', 'aria-label': (remedyLabels[o] || o) });
        ctx.sprites.paint(tile, cells[o].tile, 'remedy_cells.' + photo.key + '.' + layer.key + '.' + o + '.tile');
        row.appendChild(lib.h('div', { class: 'cv-card cv-remedy', 'data-objective': o }, [tile,
          lib.h('span', { class: 'cv-option-label', text: remedyLabels[o] || o }),
          lib.h('span', { class: 'cv-card-metrics', text: 'p ' + lib.fmt(cells[o].p, '.1%') + ' · cos ' +
            lib.fmt(cells[o].cosine, '.2f') })]));
      });
      strip.appendChild(row);
    }
    function render(keepClass) {
      var chosen = holder.querySelector('.cv-class[aria-selected="true"]');
      var box = holder.querySelector('.cv-checkbox');
      var checked = !!(box && box.checked);
      holder.textContent = '';
      C.views.classes(holder, view(keepClass && chosen ? chosen.getAttribute('data-key') : null), ctx);
      box = holder.querySelector('.cv-checkbox');
      if (box && checked) {
        box.checked = true;
        box.dispatchEvent(new Event('change'));
      }
      renderStrip();
      photoChoice.mark(sel.p);
      layerChoice.mark(sel.l);
    }
    var photoChoice = lib.choice({ label: d.photo_label || 'Photo', items: photos, selected: sel.p, thumbs: true,
      sprites: ctx.sprites, caption: true,
      onSelect: function (i) { if (i !== sel.p) { sel.p = i; render(false); } } });
    photos.forEach(function (photo, p) { photoChoice.setThumb(p, photo.photo, 'photos[' + p + '].photo'); });
    var layerChoice = lib.choice({ label: d.layer_label || 'Layer', items: layers, selected: sel.l, caption: true,
      sprites: ctx.sprites,
      onSelect: function (i) { if (i !== sel.l) { sel.l = i; render(true); } } });
    var controls = lib.h('div', { class: 'cv-controls' }, [photoChoice.root, layerChoice.root]);
    var tableBox = lib.h('div', { class: 'cv-remedy-table' });
    renderTable = function () {   // the table follows the layer: its columns at that layer, none at the others
      tableBox.textContent = '';
      if (!d.table) return;
      var layer = layers[sel.l].key, all = lib.list(d.table, 'columns', NAME + ' table');
      var shown = all.filter(function (c) { return c.layer === undefined || c.layer === layer; });
      tableBox.hidden = !shown.some(function (c) { return c.layer === layer; });
      if (!tableBox.hidden) tableBox.appendChild(table(d.table, shown));
    };
    el.appendChild(lib.h('div', { class: 'cv cv-attribution-classes' }, [controls, holder, strip, tableBox]));
    render(false);
  };

  function table(t, columns) {
    var head = lib.h('tr', {}, [lib.h('th', { scope: 'col', class: 'cv-matrix-corner', text: t.row_label || '' })]
      .concat(columns.map(function (c) { return lib.h('th', { scope: 'col', text: c.label || c.key }); })));
    var body = lib.h('tbody', {}, lib.list(t, 'rows', NAME + ' table').map(function (row) {
      return lib.h('tr', {}, [lib.h('th', { scope: 'row', text: row.label })].concat(columns.map(function (c) {
        return lib.h('td', { text: lib.fmt((row.values || {})[c.key], c.format || '.2f') });
      })));
    }));
    return lib.h('div', { class: 'cv-matrix-box' }, [lib.h('p', { class: 'cv-matrix-label', text: t.label || '' }),
      lib.h('div', { class: 'cv-scroll cv-matrix-scroll' }, [lib.h('table', { class: 'cv-matrix',
        'aria-label': t.label || null }, [lib.h('thead', {}, [head]), body])])]);
  }
})();
