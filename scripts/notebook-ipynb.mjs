#!/usr/bin/env node
// Writes examples/notebook.ipynb from examples/notebook.ts, its one source; `--check` only says
// whether the committed notebook is current (exit 1 when not). Plain JavaScript with no
// dependencies, so that it runs before a build.
//
// The module's layout: its first block of comment lines is the notebook's introduction (what
// follows up to the first `// %%` is about the module); each `// %% Title` starts a step, the comment lines right under it its prose (markdown), the
// rest its code cell. Lines `//> code` are code for the notebook only (in the module they are
// comments), and the module's imports of the sources become imports of the build (dist/).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const NOTEBOOK_SOURCE = join(root, "examples", "notebook.ts");
export const NOTEBOOK_IPYNB = join(root, "examples", "notebook.ipynb");

const CELL = "// %%";
const NOTEBOOK_ONLY = "//> ";
/** What the module imports (the sources, compiled with it) and what the notebook imports instead. */
const IMPORTS = [
  ['from "../ts/index.js"', 'from "../dist/ts/index.js"'],
  ['from "./settings.js"', 'from "../dist/examples/settings.js"'],
];

/** The .ipynb text of the module `source` (nbformat 4, no outputs, one trailing newline). */
export function renderNotebook(source) {
  const lines = source.replace(/\r\n/g, "\n").split("\n");
  const first = lines.findIndex((line) => line.startsWith(CELL));
  if (first < 0) throw new Error(`${relative(root, NOTEBOOK_SOURCE)}: no '${CELL}' cell marker`);
  const intro = lines.findIndex((line) => !line.startsWith("//"));
  const cells = [markdown(prose(lines.slice(0, Math.min(intro, first))))];
  let start = first;
  while (start < lines.length) {
    let end = lines.findIndex((line, i) => i > start && line.startsWith(CELL));
    if (end < 0) end = lines.length;
    cells.push(...step(lines.slice(start, end)));
    start = end;
  }
  const notebook = {
    cells: cells.map((cell, index) => ({ ...cell, id: `cell-${index}` })),
    metadata: {
      kernelspec: { display_name: "TypeScript", language: "typescript", name: "tslab" },
      language_info: { file_extension: ".ts", mimetype: "text/typescript", name: "typescript" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
  // Jupyter's own layout (keys sorted, indent 1): saving the notebook unchanged leaves it so.
  return `${JSON.stringify(notebook, null, 1)}\n`;
}

/** A step: its title and prose as markdown, then its code. */
function step(block) {
  const title = block[0].slice(CELL.length).trim();
  let body = 1;
  while (body < block.length && isComment(block[body])) body += 1;
  const code = block.slice(body).map(notebookLine);
  while (code.length > 0 && code[0].trim() === "") code.shift();
  while (code.length > 0 && code[code.length - 1].trim() === "") code.pop();
  const text = [`### ${title}`, ...(body > 1 ? ["", prose(block.slice(1, body))] : [])].join("\n");
  return [markdown(text), codeCell(code.join("\n"))];
}

function isComment(line) {
  return line.startsWith("//") && !line.startsWith(NOTEBOOK_ONLY);
}

function notebookLine(line) {
  const code = line.startsWith(NOTEBOOK_ONLY) ? line.slice(NOTEBOOK_ONLY.length) : line;
  return IMPORTS.reduce((text, [module, notebook]) => text.replace(module, notebook), code);
}

/** Comment lines as one paragraph per blank-comment-separated run. */
function prose(comments) {
  return comments
    .map((line) => line.replace(/^\/\/ ?/, ""))
    .join("\n")
    .trim();
}

// Cell ids are their index (set above): stable, so that regenerating changes nothing.
function markdown(text) {
  return { cell_type: "markdown", id: "", metadata: {}, source: sourceLines(text) };
}

function codeCell(text) {
  return { cell_type: "code", execution_count: null, id: "", metadata: {}, outputs: [], source: sourceLines(text) };
}

/** nbformat's multi-line string: the lines, each but the last with its newline. */
function sourceLines(text) {
  const lines = text.split("\n");
  return lines.map((line, i) => (i < lines.length - 1 ? `${line}\n` : line));
}

function main() {
  const rendered = renderNotebook(readFileSync(NOTEBOOK_SOURCE, "utf8"));
  const target = relative(root, NOTEBOOK_IPYNB);
  if (process.argv.includes("--check")) {
    let committed = "";
    try {
      committed = readFileSync(NOTEBOOK_IPYNB, "utf8");
    } catch {
      // an absent notebook is out of date like a stale one
    }
    if (committed !== rendered) {
      console.error(`${target} is not current with ${relative(root, NOTEBOOK_SOURCE)}: run \`node scripts/notebook-ipynb.mjs\``);
      process.exit(1);
    }
    console.log(`${target} is current`);
    return;
  }
  writeFileSync(NOTEBOOK_IPYNB, rendered);
  console.log(`wrote ${target}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
