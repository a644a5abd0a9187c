// Client side of the test server page: dumb-increment-protocol and lws-mirror-protocol.
"use strict";

document.getElementById("ua").textContent = navigator.userAgent;

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  return scheme + location.host + "/";
}

function setState(el, text, cls) {
  el.textContent = text;
  el.className = "state " + cls;
}

// ---- dumb-increment-protocol ----
const diState = document.getElementById("di-state");
const number = document.getElementById("number");
let di = null;

function connectIncrement() {
  di = new WebSocket(wsUrl(), "dumb-increment-protocol");
  di.onopen = () => setState(diState, "open", "open");
  di.onmessage = (ev) => { number.textContent = ev.data; };
  di.onclose = (ev) => {
    setState(diState, "closed (" + ev.code + ")", "closed");
    setTimeout(connectIncrement, 2000);
  };
}
document.getElementById("reset").onclick = () => {
  if (di && di.readyState === WebSocket.OPEN) di.send("reset\n");
};
connectIncrement();

// ---- lws-mirror-protocol ----
// Messages are "d #rrggbb x1 y1 x2 y2;" (a line) or "c #rrggbb x y r;" (a circle).
const mirrorState = document.getElementById("mirror-state");
const mirrorCount = document.getElementById("mirror-count");
const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const color = document.getElementById("color");
let mirror = null;
let received = 0;

function drawCommand(cmd) {
  const p = cmd.trim().split(/\s+/);
  if (p.length < 5) return;
  const n = p.slice(2).map(Number);
  if (n.some(Number.isNaN)) return;
  ctx.strokeStyle = p[1];
  ctx.beginPath();
  if (p[0] === "d" && n.length >= 4) {
    ctx.moveTo(n[0], n[1]);
    ctx.lineTo(n[2], n[3]);
  } else if (p[0] === "c" && n.length >= 3) {
    ctx.arc(n[0], n[1], n[2], 0, Math.PI * 2);
  } else {
    return;
  }
  ctx.stroke();
}

function connectMirror() {
  mirror = new WebSocket(wsUrl(), "lws-mirror-protocol");
  mirror.onopen = () => setState(mirrorState, "open", "open");
  mirror.onmessage = (ev) => {
    if (typeof ev.data !== "string") return;
    received += 1;
    mirrorCount.textContent = received + " messages received";
    ev.data.split(";").forEach((c) => { if (c.trim()) drawCommand(c); });
  };
  mirror.onclose = (ev) => {
    setState(mirrorState, "closed (" + ev.code + ")", "closed");
    setTimeout(connectMirror, 2000);
  };
}
connectMirror();

let last = null;
function pos(ev) {
  const r = canvas.getBoundingClientRect();
  return [Math.round(ev.clientX - r.left), Math.round(ev.clientY - r.top)];
}
canvas.addEventListener("pointerdown", (ev) => { last = pos(ev); });
canvas.addEventListener("pointerup", () => { last = null; });
canvas.addEventListener("pointerleave", () => { last = null; });
canvas.addEventListener("pointermove", (ev) => {
  if (!last || !mirror || mirror.readyState !== WebSocket.OPEN) return;
  const p = pos(ev);
  mirror.send("d " + color.value + " " + last[0] + " " + last[1] + " " + p[0] + " " + p[1] + ";");
  last = p;
});
