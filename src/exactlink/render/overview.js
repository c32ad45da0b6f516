
(function () {
  "use strict";
  var table = document.getElementById("returns-table");
  var form = document.getElementById("filters");
  if (!table || !form) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var shown = document.getElementById("shown");
  var decimal = form.getAttribute("data-decimal");
  var relation = form.elements.namedItem("relation");
  var kind = form.elements.namedItem("kind");
  var status = form.elements.namedItem("status");
  var within = form.elements.namedItem("within");
  var open = { o: true, s: true, p: true };

  function number(text) {
    var cleaned = text.replace(decimal === "," ? /[^0-9,-]/g : /[^0-9.-]/g, "");
    if (decimal === ",") { cleaned = cleaned.replace(",", "."); }
    var value = parseFloat(cleaned);
    return isNaN(value) ? null : value;
  }

  function apply() {
    var wanted = relation.value.trim().toLocaleLowerCase();
    var days = within.value.trim() === "" ? null : parseInt(within.value, 10);
    var count = 0;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var cells = row.cells;
      var keep = (!wanted || cells[0].textContent.toLocaleLowerCase().indexOf(wanted) !== -1) &&
        (!kind.value || cells[2].textContent === kind.value) &&
        (!status.value || cells[7].textContent === status.value);
      if (keep && days !== null && !isNaN(days)) {
        var left = number(cells[6].textContent);
        keep = open[row.className] === true && left !== null && left <= days;
      }
      row.hidden = !keep;
      if (keep) { count++; }
    }
    shown.textContent = form.getAttribute("data-shown").replace("{n}", count).replace("{m}", rows.length);
  }

  function sortBy(header, index) {
    var type = header.getAttribute("data-type");
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var headers = table.tHead.rows[0].cells;
    for (var h = 0; h < headers.length; h++) { headers[h].removeAttribute("aria-sort"); }
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var keyed = rows.map(function (row, position) {
      var text = row.cells[index].textContent;
      var value = type === "num" ? number(text) : (text === "" || text === "—" ? null : text);
      return { row: row, value: value, position: position };
    });
    keyed.sort(function (a, b) {
      if (a.value === null || b.value === null) {
        return a.value === b.value ? a.position - b.position : (a.value === null ? 1 : -1);
      }
      var order = type === "num" ? a.value - b.value : a.value.localeCompare(b.value);
      if (order === 0) { return a.position - b.position; }
      return ascending ? order : -order;
    });
    rows = keyed.map(function (item) { return item.row; });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row) { fragment.appendChild(row); });
    body.appendChild(fragment);
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = header.textContent;
    button.title = form.getAttribute("data-sort-hint");
    header.textContent = "";
    header.appendChild(button);
    button.addEventListener("click", function () { sortBy(header, index); });
  });
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  form.addEventListener("reset", function () { setTimeout(apply, 0); });
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-rel]") : null;
    if (!link) { return; }
    relation.value = link.getAttribute("data-rel");
    apply();
  });
  form.hidden = false;
  apply();
  document.documentElement.setAttribute("data-ready", "1");
})();
