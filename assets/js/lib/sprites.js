/* Sprite sheets: paint a tile of the figure's index into any box (scaled by CSS) and load sheets on demand. */
(function () {
  'use strict';
  var lib = window.Caricatures.lib;

  /**
   * Wrap an index JSON's `sheets` and `tiles`; `report(message)` is called for each missing tile key.
   * Tiles are positioned with percentages so one tile fills its box at any CSS size.
   */
  function Sprites(index, report, opts) {
    var self = this;
    this.sheets = index.sheets || [];
    this.tiles = index.tiles || {};
    this.report = report || function () {};
    this.pending = {};   // sheet index -> Promise that resolves once the sheet is decoded
    this.reported = {};
    // A closed Sprites (opts.closed: its figure is still far from the viewport) requests nothing: loads wait
    // and painted boxes keep their sheet's URL aside, until open() (main.js opens it as the figure nears).
    this.isOpen = !(opts && opts.closed);
    this.waiting = [];   // boxes painted while closed
    this.opened = new Promise(function (resolve) { self.resolveOpen = resolve; });
    if (this.isOpen) this.resolveOpen();
  }

  /** Let the figure's sheets load: run the loads asked for so far and show the boxes painted so far. */
  Sprites.prototype.open = function () {
    if (this.isOpen) return;
    this.isOpen = true;
    this.waiting.forEach(function (node) {
      node.style.backgroundImage = node.cvBackground || 'none';
      delete node.cvBackground;
    });
    this.waiting = [];
    this.resolveOpen();
  };

  /** Set a box's background image, or keep it aside while the figure is closed. */
  Sprites.prototype.background = function (node, value) {
    if (this.isOpen) {
      node.style.backgroundImage = value;
      return;
    }
    if (!('cvBackground' in node)) this.waiting.push(node);
    node.cvBackground = value;
    node.style.backgroundImage = 'none';
  };

  /** Return true if `key` names a tile whose sheet exists; otherwise report it once (naming `where`). */
  Sprites.prototype.need = function (key, where) {
    var tile = typeof key === 'string' ? this.tiles[key] : null;
    if (tile && this.sheets[tile[0]]) return true;
    var id = String(key) + '@' + where;
    if (!this.reported[id]) {
      this.reported[id] = true;
      this.report(typeof key !== 'string'
        ? where + ' must be a tile key (string), got ' + JSON.stringify(key)
        : 'tile "' + key + '" (' + where + ') is not in the figure\'s tiles');
    }
    return false;
  };

  /** Return the set of sheet indices (as an array) that the given tile keys live on. */
  Sprites.prototype.sheetsOf = function (keys) {
    var seen = {};
    var self = this;
    keys.forEach(function (key) {
      var tile = self.tiles[key];
      if (tile && self.sheets[tile[0]]) seen[tile[0]] = true;
    });
    return Object.keys(seen).map(Number);
  };

  /** Return the indices of all sheets whose group is in `groups` (all sheets when `groups` is null). */
  Sprites.prototype.sheetsOfGroups = function (groups) {
    var out = [];
    this.sheets.forEach(function (sheet, i) {
      if (!groups || groups.indexOf(sheet.group) >= 0) out.push(i);
    });
    return out;
  };

  /** Start loading the given sheets (no-op for ones already requested; once open); resolve when all are ready. */
  Sprites.prototype.load = function (sheetIndices) {
    var self = this;
    if (!this.isOpen) return this.opened.then(function () { return self.load(sheetIndices); });
    return Promise.all(sheetIndices.map(function (i) {
      if (!self.pending[i]) {
        self.pending[i] = new Promise(function (resolve) {
          var img = new Image();
          img.onload = img.onerror = function () { resolve(i); };
          img.src = self.sheets[i].file;
        });
      }
      return self.pending[i];
    }));
  };

  /** Return true if every sheet that the given tile keys need has been requested. */
  Sprites.prototype.requested = function (keys) {
    var self = this;
    return this.sheetsOf(keys).every(function (i) { return !!self.pending[i]; });
  };

  /** Show tile `key` in `node` (its box gets the tile's aspect ratio); a falsy key clears the node. */
  Sprites.prototype.paint = function (node, key, where) {
    node.classList.remove('cv-missing');
    if (!key) {
      this.background(node, 'none');
      node.removeAttribute('data-tile');
      return;
    }
    if (!this.need(key, where || 'tile')) {
      this.background(node, 'none');
      node.classList.add('cv-missing');
      node.setAttribute('data-tile', key);
      return;
    }
    var t = this.tiles[key];
    var sheet = this.sheets[t[0]];
    var x = t[1], y = t[2], w = t[3], h = t[4];
    // A p% position puts the image's p% point on the box's p% point: p = x / (sheet - tile).
    var px = sheet.width > w ? (100 * x) / (sheet.width - w) : 0;
    var py = sheet.height > h ? (100 * y) / (sheet.height - h) : 0;
    this.background(node, 'url("' + sheet.file.replace(/["\\]/g, '\\$&') + '")');
    node.style.backgroundSize = (100 * sheet.width) / w + '% ' + (100 * sheet.height) / h + '%';
    node.style.backgroundPosition = px + '% ' + py + '%';
    node.style.aspectRatio = w + ' / ' + h;
    node.setAttribute('data-tile', key);
  };

  lib.Sprites = Sprites;
})();
