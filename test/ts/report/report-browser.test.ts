// report.html as a person sees it: headless Chromium loads the page a run directory holds, its DOM
// must have every chart as an SVG with drawn marks (none replaced by a "no data" notice), and its
// screenshot must show the charts' colours: each attribute's, and the stages' blues. Chromium comes
// from Debian (`apt-get install -y chromium`; .ci/run installs it). Without it the test is skipped
// with the reason, except in CI (CI set), where it fails.
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";
import { attributeColor, stageColor } from "../../../ts/report/palette.js";
import { writeReport } from "../../../ts/report/report.js";
import { decodePng, type Image } from "./png.js";
import { ATTRIBUTES, syntheticRun } from "./synthetic-run.js";

const run = promisify(execFile);
const WINDOW = { width: 1100, height: 4200 };

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  return null;
}

const chromium = onPath("chromium");
const inCi = (process.env.CI ?? "") !== "";

/** Runs headless Chromium on `page` with `args`; its stdout. Killed after 90 s. */
async function browse(page: string, args: readonly string[]): Promise<string> {
  if (chromium === null) throw new Error("chromium is not on PATH: CI installs it in .ci/run (apt-get install -y chromium)");
  const profile = await mkdtemp(join(tmpdir(), "mcl-report-chromium-"));
  const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", `--user-data-dir=${profile}`];
  try {
    const { stdout } = await run(chromium, [...flags, ...args, `file://${page}`], { timeout: 90_000, killSignal: "SIGKILL", maxBuffer: 64 << 20 });
    return stdout;
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

/** Pixels within 3 per channel of `hex`. */
function count(image: Image, hex: string): number {
  const target = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < image.rgba.length; i += 4) {
    if (Math.abs(image.rgba[i]! - target[0]!) <= 3 && Math.abs(image.rgba[i + 1]! - target[1]!) <= 3 && Math.abs(image.rgba[i + 2]! - target[2]!) <= 3) n++;
  }
  return n;
}

/** Loads the report of a synthetic run in Chromium: its DOM and its screenshot. */
async function load(clip: boolean): Promise<{ dom: string; image: Image; screenshot: string }> {
  const dir = await syntheticRun({ finished: true, losses: true, clip });
  const { html } = await writeReport(dir);
  const screenshot = join(dir, "report.png");
  const dom = await browse(html, ["--dump-dom"]);
  await browse(html, [`--screenshot=${screenshot}`, `--window-size=${WINDOW.width},${WINDOW.height}`]);
  return { dom, image: decodePng(await readFile(screenshot)), screenshot };
}

function checkDom(dom: string, charts: number): void {
  const figures = [...dom.matchAll(/<figure>([\s\S]*?)<\/figure>/g)].map((m) => m[1]!);
  expect(figures).toHaveLength(charts);
  for (const figure of figures) {
    expect(figure.match(/<svg[\s>]/g)).toHaveLength(1);
    // Drawn marks: SVG paths with geometry that stand for data (lines, bars, points).
    expect(figure).toMatch(/<path [^>]*role="graphics-symbol"[^>]*aria-roledescription="(line mark|bar|point)"[^>]* d="M/);
  }
  for (const notice of ["no probe results", "no clustering yet", "no loss history", "no epoch trained yet"]) expect(dom).not.toContain(notice);
  expect(dom).not.toMatch(/\berror\b/i);
}

function checkScreenshot(image: Image, stages: number, clustered: readonly number[]): void {
  expect([image.width, image.height]).toEqual([WINDOW.width, WINDOW.height]);
  const colours = new Set<number>();
  let inked = 0;
  for (let i = 0; i < image.rgba.length; i += 4) {
    colours.add((image.rgba[i]! << 16) | (image.rgba[i + 1]! << 8) | image.rgba[i + 2]!);
    if (image.rgba[i]! + image.rgba[i + 1]! + image.rgba[i + 2]! < 600) inked++;
  }
  expect(colours.size).toBeGreaterThan(50);
  expect(inked / (image.width * image.height)).toBeGreaterThan(0.02);
  // The charts are painted: every attribute's lines and diamonds, every clustering's bars.
  for (const attribute of ATTRIBUTES) expect(count(image, attributeColor(ATTRIBUTES, attribute)), attribute).toBeGreaterThan(100);
  for (const index of clustered) expect(count(image, stageColor(index, stages)), `stage colour ${index}`).toBeGreaterThan(100);
}

const reason = "chromium is not on PATH (install it: apt-get install -y chromium); CI runs this check";
if (chromium === null && !inCi) {
  test.skip(`the report in headless Chromium: skipped, ${reason}`, () => {});
} else {
  describe("the report in headless Chromium", () => {
    test("an MCL run: three charts drawn, the headline first, every attribute and clustering in its colour", { timeout: 240_000 }, async () => {
      const { dom, image } = await load(false);
      checkDom(dom, 3);
      expect(dom.indexOf('class="headline"')).toBeLessThan(dom.indexOf("<figure>"));
      checkScreenshot(image, 3, [0, 1]);
    });

    test("a CLIP run: the MMVP chart as well", { timeout: 240_000 }, async () => {
      const { dom, image } = await load(true);
      checkDom(dom, 4);
      expect(dom).toContain("MMVP-style pair score per category across stages");
      checkScreenshot(image, 3, [0, 1]);
    });
  });
}
