// Building DOM nodes without innerHTML: every value from the gateway is inserted as text.

/** h("td", {class: "num"}, "12") -> <td class="num">12</td>. Props: class, dataset, on*, attrs. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const byId = (id) => document.getElementById(id);

/** Replace a table body's rows; an empty list shows `empty` across the table. */
export function fillTable(id, rows, empty) {
  const table = byId(id);
  const body = table.tBodies[0];
  if (rows.length) {
    body.replaceChildren(...rows);
  } else {
    const width = table.tHead.rows[0].cells.length;
    body.replaceChildren(h("tr", null, h("td", { class: "empty", colspan: width }, empty)));
  }
}

/** Show a figure: the text for people, the raw number in data-value for tests and tools. */
export function setFigure(id, value, text) {
  const el = byId(id);
  el.dataset.value = value === null || value === undefined ? "" : String(value);
  el.textContent = value === null || value === undefined ? "–" : text;
}

export function setText(id, text) {
  byId(id).textContent = text;
}
