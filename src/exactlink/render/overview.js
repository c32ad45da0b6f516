(function () {
  "use strict";
  // The table's rows arrive as the text of <noscript id="returns-source"> (see overview_html.py): read them
  // into arrays, and keep only one page of matching rows in the document, so 20,000 returns stay quick.
  var PAGE = 200;
  var source = document.getElementById("returns-source");
  var live = document.getElementById("returns-live");
  var form = document.getElementById("filters");
  if (!source || !live || !form) { return; }
  var markup = source.textContent;
  var decimal = form.getAttribute("data-decimal");
  var collator = new Intl.Collator(document.documentElement.lang, { numeric: true, sensitivity: "base" });
  var relation = form.elements.namedItem("relation");
  var kind = form.elements.namedItem("kind");
  var status = form.elements.namedItem("status");
  var within = form.elements.namedItem("within");
  var shown = document.getElementById("shown");
  var open = { o: true, s: true, p: true };

  function decode(text) {
    if (text.indexOf("&") === -1) { return text; }
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, "\"")
      .replace(/&#x27;/g, "'").replace(/&amp;/g, "&");
  }
  function number(text) {
    var cleaned = text.replace(decimal === "," ? /[^0-9,-]/g : /[^0-9.-]/g, "");
    if (decimal === ",") { cleaned = cleaned.replace(",", "."); }
    var value = parseFloat(cleaned);
    return isNaN(value) ? null : value;
  }

  var names = {};
  Array.prototype.forEach.call(document.querySelectorAll("section.rel"), function (block) {
    var number = block.id.slice(1);
    var heading = block.querySelector("h3");
    names[number] = heading ? heading.textContent.slice(number.length + 1) : "";
    if (block.getAttribute("data-n") !== "0") {
      var link = document.createElement("a");
      link.href = "#returns";
      link.setAttribute("data-rel", number);
      link.textContent = form.getAttribute("data-relation-link");
      block.appendChild(link);
    }
  });

  var headers = [];
  markup.replace(/<th scope="col" data-type="(\w+)">([^<]*)<\/th>/g, function (all, type, label) {
    headers.push({ type: type, label: decode(label) });
    return all;
  });
  var caption = /<caption id="returns-caption">([^<]*)<\/caption>/.exec(markup);
  var body = markup.slice(markup.indexOf("<tbody>") + 7, markup.lastIndexOf("</tbody>"));
  var rows = [];
  body.split("<tr class=").forEach(function (chunk) {
    var cells = chunk.split("<td>");
    if (cells.length < 2) { return; }
    var values = cells.slice(1).map(function (cell) { return decode(cell.replace(/\s+$/, "")); });
    var name = names[values[0]];
    if (name) { values[0] = values[0] + " " + name; }
    rows.push({ mark: cells[0].charAt(0), cells: values, days: number(values[6]) });
  });

  var scroll = document.createElement("div");
  scroll.className = "scroll";
  scroll.tabIndex = 0;
  scroll.setAttribute("role", "region");
  scroll.setAttribute("aria-labelledby", "returns-caption");
  var table = document.createElement("table");
  table.id = "returns-table";
  var captionElement = table.createCaption();
  captionElement.id = "returns-caption";
  captionElement.textContent = caption ? decode(caption[1]) : "";
  var headRow = table.createTHead().insertRow();
  var tbody = table.createTBody();
  scroll.appendChild(table);
  live.appendChild(scroll);
  var more = document.createElement("button");
  more.type = "button";
  more.className = "more";
  live.appendChild(more);

  var matching = rows;
  var limit = PAGE;

  function render() {
    var fragment = document.createDocumentFragment();
    var count = Math.min(limit, matching.length);
    for (var i = 0; i < count; i++) {
      var row = matching[i];
      var tr = document.createElement("tr");
      tr.className = row.mark;
      for (var c = 0; c < row.cells.length; c++) {
        tr.insertCell().textContent = row.cells[c];
      }
      fragment.appendChild(tr);
    }
    tbody.replaceChildren(fragment);
    var text = form.getAttribute("data-shown").replace("{n}", matching.length).replace("{m}", rows.length);
    if (count < matching.length) { text += form.getAttribute("data-paged").replace("{k}", count); }
    shown.textContent = text;
    more.hidden = count >= matching.length;
    more.textContent = form.getAttribute("data-more").replace("{k}", Math.min(PAGE, matching.length - count));
  }

  function apply() {
    var wanted = relation.value.trim().toLocaleLowerCase();
    var days = within.value.trim() === "" ? null : parseInt(within.value, 10);
    if (days !== null && isNaN(days)) { days = null; }
    var order = rows.slice();
    if (sorted) { order = sorted; }
    matching = order.filter(function (row) {
      var cells = row.cells;
      if (wanted && cells[0].toLocaleLowerCase().indexOf(wanted) === -1) { return false; }
      if (kind.value && cells[2] !== kind.value) { return false; }
      if (status.value && cells[7] !== status.value) { return false; }
      if (days !== null) { return open[row.mark] === true && row.days !== null && row.days <= days; }
      return true;
    });
    limit = PAGE;
    render();
  }

  var sorted = null;
  function sortBy(header, index, type) {
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(headRow.cells, function (cell) { cell.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var keyed = rows.map(function (row, position) {
      var text = row.cells[index];
      var value = type === "num" ? number(text) : (text === "" || text === "—" ? null : text);
      return { row: row, value: value, position: position };
    });
    keyed.sort(function (a, b) {
      if (a.value === null || b.value === null) {
        return a.value === b.value ? a.position - b.position : (a.value === null ? 1 : -1);
      }
      var order = type === "num" ? a.value - b.value : collator.compare(a.value, b.value);
      if (order === 0) { return a.position - b.position; }
      return ascending ? order : -order;
    });
    sorted = keyed.map(function (item) { return item.row; });
    apply();
  }

  headers.forEach(function (header, index) {
    var th = document.createElement("th");
    th.scope = "col";
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = header.label;
    button.title = form.getAttribute("data-sort-hint");
    button.addEventListener("click", function () { sortBy(th, index, header.type); });
    th.appendChild(button);
    headRow.appendChild(th);
  });
  more.addEventListener("click", function () { limit += PAGE; render(); });
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
  live.hidden = false;
  apply();
  document.documentElement.setAttribute("data-ready", "1");
})();
