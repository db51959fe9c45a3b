// The users example's Node module: an SVG avatar with a user's initials, and a profile
// badge fetched from a directory service through the worker's broker (its only way out:
// the module runs with no network, and its manifest allows one host:port).
"use strict";
const { serve, RpcError } = require("gati-module");

const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return parts.slice(0, 2).map((p) => p[0].toUpperCase()).join("") || "?";
}

function avatar({ name, size }) {
  const text = initials(name);
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  const colour = COLOURS[hash % COLOURS.length];
  const s = size || 64;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${s}" height="${s}">` +
    `<rect width="100%" height="100%" fill="${colour}"/>` +
    `<text x="50%" y="50%" dy=".35em" text-anchor="middle" fill="#fff" ` +
    `font-family="sans-serif" font-size="${Math.round(s * 0.4)}">${text}</text></svg>`;
}

serve({
  name: "avatar",
  version: "1.0.0",
  methods: {
    avatar: {
      params: [{ name: "name", schema: { type: "string" } },
               { name: "size", schema: { type: "integer" } }],
      returns: { type: "string" },
      fn: async (p) => avatar(p),
    },
    badge: {
      params: [{ name: "directory", schema: { type: "string" } },
               { name: "email", schema: { type: "string" } }],
      returns: { type: "object" },
      fn: async ({ directory, email }, ctx) => {
        const answer = await ctx.fetch(`${directory}/badge?email=${encodeURIComponent(email)}`);
        if (answer.status !== 200) throw new RpcError(-32010, `directory answered ${answer.status}`);
        return JSON.parse(answer.body);
      },
    },
  },
});
