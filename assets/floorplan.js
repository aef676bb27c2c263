/* Floor plan painter: write the live values of each refresh into the elements already drawn.

   Why not Dash outputs: the server sends `paint_data` (depot/web/floorplan.py) every two seconds and redraws
   the plan only when its structure changes. Applying the values through Dash outputs costs, per component,
   a linear search over all pattern ids and a store dispatch that re-runs every component's selector: about
   5 s per refresh at 200 chargers (measured with Chromium's profiler, Dash 4.4). Writing the few changed
   texts and classes here costs well under a millisecond. React leaves these writes alone: it only touches
   the DOM when the props Dash gives it change, and those change only when the server redraws the plan.

   Elements are found by data-cid (bays), data-lane (lane headers), data-status (legend chips) and ids
   (header); the markup is made in layouts/_floor.py. */
(function () {
  "use strict";

  function setText(el, value) {
    if (el && el.textContent !== value) { el.textContent = value; }
  }
  function setClass(el, value) {
    if (el && el.className !== value) { el.className = value; }
  }
  function setAttr(el, name, value) {
    if (el && el.getAttribute(name) !== value) { el.setAttribute(name, value); }
  }
  function setWidth(el, pct) {
    const w = pct + "%";
    if (el && el.style.width !== w) { el.style.width = w; }
  }
  function slug(status) {
    return status.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();
  }
  const OPTIONAL = new Set(["Reserved", "Unknown"]);

  function paintAll(data, selected, statuses) {
    const root = document.getElementById("fp-plan");
    if (!root) { return; }
    const tiles = data.tiles || {};
    // bays: [slug, label, vehicle, soc text, metrics, soc %, tooltip, connector slugs, commissioned]
    root.querySelectorAll("[data-cid]").forEach(el => {
      const cid = el.getAttribute("data-cid");
      const t = tiles[cid];
      if (!t) { return; }
      // keep in step with layouts/_floor.py tile_class
      setClass(el, "fp-bay st-" + t[0] + (cid === selected ? " is-selected" : "") + (t[8] ? "" : " is-new"));
      setAttr(el, "title", t[6]);
      setText(el.querySelector(".fp-status"), t[1]);
      setText(el.querySelector(".fp-vehicle"), t[2]);
      setText(el.querySelector(".fp-soc"), t[3]);
      setText(el.querySelector(".fp-metrics"), t[4]);
      setWidth(el.querySelector(".fp-socbar"), t[5]);
      el.querySelectorAll(".fp-conn").forEach((dot, i) => setClass(dot, "fp-conn st-" + (t[7][i] || "unknown")));
    });
    const lanes = data.lanes || {};
    root.querySelectorAll("[data-lane]").forEach(el => {
      const l = lanes[el.getAttribute("data-lane")];
      if (!l) { return; }
      setText(el.querySelector(".fp-lane-stats"), l[0]);
      setText(el.querySelector(".fp-lane-faults"), l[1]);
    });
    const legend = data.legend || {};
    const active = new Set(statuses || []);
    document.querySelectorAll(".fp-chip[data-status]").forEach(el => {
      const s = el.getAttribute("data-status");
      const n = legend[s] || 0;
      setText(el.querySelector(".fp-count"), String(n));
      setClass(el, "fp-chip st-" + slug(s) + (n ? "" : " is-zero") + (active.has(s) ? " is-active" : "")
        + (OPTIONAL.has(s) && !n && !active.has(s) ? " is-hidden" : ""));
    });
    const h = data.header;
    const byId = id => document.getElementById(id);
    setText(byId("fp-online"), h.online);
    setText(byId("fp-online-sub"), h.online_sub);
    setText(byId("fp-charging"), h.charging);
    setText(byId("fp-faulted"), h.faulted);
    setText(byId("fp-faulted-sub"), h.faulted_sub);
    setClass(byId("fp-faulted-card"), "kpi " + (h.faulted !== "0" ? "tone-bad" : "tone-zero"));
    setText(byId("fp-power"), h.power);
    setText(byId("fp-power-sub"), h.load_text);
    setWidth(byId("fp-power-bar"), h.load_pct);
    setClass(byId("fp-power-card"), "kpi fp-power level-" + h.level);
    setText(byId("fp-updated"), data.updated);
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    floorplan: {
      paint: function (data, selected, statuses) {
        if (data) {
          paintAll(data, selected, statuses);
          // a redraw in the same response is committed by React a moment later: paint it too
          window.requestAnimationFrame(() => paintAll(data, selected, statuses));
        }
        throw window.dash_clientside.PreventUpdate;
      },
    },
  });
})();
