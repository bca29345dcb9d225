/* Choice: a segmented control (ARIA radiogroup) of text or thumbnail buttons, one Tab stop, arrows move. */
(function () {
  'use strict';
  var lib = window.Caricatures.lib;

  /**
   * Build a radiogroup. opts: label (accessible name, also shown when opts.caption), items [{key, label}],
   * selected (index), thumbs (true: each button shows a tile), sprites, onShow(i) on hover,
   * onSelect(i) on click, tap, focus or Enter/Space. Returns {root, buttons, tiles, mark(i),
   * setThumb(i, key, where), setDisabled(i, bool)}.
   */
  lib.choice = function (opts) {
    var items = opts.items;
    var buttons = [], tiles = [];
    var group = lib.h('div', { class: 'cv-choice' + (opts.thumbs ? ' cv-choice-thumbs' : ''),
      role: 'radiogroup', 'aria-label': opts.label });
    items.forEach(function (item, i) {
      var tile = opts.thumbs ? lib.h('div', { class: 'cv-tile cv-thumb' }) : null;
      var button = lib.h('button', { type: 'button', role: 'radio', class: 'cv-option', 'data-key': item.key,
        title: item.title || null }, [tile, lib.h('span', { class: 'cv-option-label', text: item.label || item.key })]);
      lib.onHover(button, function () { if (opts.onShow && !entries[i].disabled) opts.onShow(i); });
      button.addEventListener('click', function () { if (!entries[i].disabled) opts.onSelect(i); });
      group.appendChild(button);
      buttons.push(button);
      tiles.push(tile);
    });
    var entries = buttons.map(function (b) { return { node: b, disabled: false }; });
    var rover = lib.roving(entries, {
      mode: 'linear', initial: opts.selected || 0,
      onFocus: function (i) { if (!entries[i].disabled) opts.onSelect(i); },
      onSelect: function (i) { opts.onSelect(i); },
    });
    var root = opts.caption
      ? lib.h('div', { class: 'cv-field' }, [lib.h('span', { class: 'cv-field-label', text: opts.label }), group])
      : group;
    var api = {
      root: root, buttons: buttons, tiles: tiles,
      mark: function (selected, shown) {
        buttons.forEach(function (b, i) {
          b.setAttribute('aria-checked', i === selected ? 'true' : 'false');
          b.classList.toggle('is-shown', i === (shown === undefined ? selected : shown));
        });
        if (selected >= 0) rover.setCurrent(selected);
      },
      setThumb: function (i, key, where) {
        tiles[i].classList.toggle('cv-empty', !key);
        opts.sprites.paint(tiles[i], key, where);
      },
      setDisabled: function (i, off) {
        entries[i].disabled = off;
        buttons[i].setAttribute('aria-disabled', off ? 'true' : 'false');
      },
    };
    api.mark(opts.selected || 0);
    return api;
  };
})();
