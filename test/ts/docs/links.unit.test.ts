// Every link in the repository's Markdown stays inside the repository and resolves: a relative
// link names a file or folder that exists, and an anchor names a heading of its target. The
// method is cited as docs/method.md, never as a file outside the repository.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "..", "..", "..");
/** Installed, built or generated folders, not the repository's own documents. */
const SKIPPED = new Set(["node_modules", "dist", "runs", "build"]);

function markdownFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || SKIPPED.has(entry.name) || entry.name.endsWith(".egg-info")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) markdownFiles(path, out);
    else if (entry.name.endsWith(".md")) out.push(path);
  }
  return out;
}

/** The repository's own source and document files under `dir`. */
function textFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || entry.name === "__pycache__" || SKIPPED.has(entry.name) || entry.name.endsWith(".egg-info")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) textFiles(path, out);
    else if (/\.(ts|mts|mjs|js|py|md|json|txt)$/.test(entry.name)) out.push(path);
  }
  return out;
}

/** The text without fenced code blocks, where `#` and brackets mean nothing. */
function withoutFences(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
}

/** The text without code blocks and code spans, where brackets are not links. */
function prose(markdown: string): string {
  return withoutFences(markdown).replace(/`+[^`\n]*`+/g, "");
}

/** Targets of inline links and images `[text](target)`, and of reference definitions `[x]: target`. */
function linkTargets(markdown: string): string[] {
  const text = prose(markdown);
  const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const defined = [...text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]!);
  const autolinks = [...text.matchAll(/<([a-z][a-z0-9+.-]*:[^>\s]+)>/gi)].map((m) => m[1]!);
  return [...inline, ...defined, ...autolinks];
}

/** GitHub's anchors of a document's headings (lower case, punctuation dropped, spaces to '-', repeats numbered). */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of withoutFences(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = match[1]!.replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1").replaceAll("`", "");
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** What is wrong with each link of `file` (relative to the repository), or nothing. */
function linkProblems(file: string, markdown: string, readTarget: (path: string) => string | null): string[] {
  const problems: string[] = [];
  for (const target of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) {
      problems.push(`${file}: ${target} leaves the repository; link a document in it instead`);
      continue;
    }
    if (target.startsWith("/")) {
      problems.push(`${file}: ${target} is an absolute path; write it relative to ${dirname(file)}`);
      continue;
    }
    const [pathPart, anchor] = target.split("#", 2) as [string, string | undefined];
    const path = pathPart === "" ? file : join(dirname(file), decodeURIComponent(pathPart));
    if (path.startsWith("..")) {
      problems.push(`${file}: ${target} points outside the repository`);
      continue;
    }
    const content = readTarget(path);
    if (content === null) {
      problems.push(`${file}: ${target} does not exist (${path})`);
    } else if (anchor !== undefined && path.endsWith(".md") && !headingAnchors(content).has(anchor)) {
      problems.push(`${file}: ${target} names no heading of ${path}`);
    }
  }
  return problems;
}

/** A repository path's text ("" for a folder), or null when it does not exist. */
function readInRepository(path: string): string | null {
  const absolute = join(root, path);
  if (!existsSync(absolute)) return null;
  return statSync(absolute).isDirectory() ? "" : readFileSync(absolute, "utf8");
}

describe("links in the repository's Markdown", () => {
  const files = markdownFiles(root).map((path) => relative(root, path));

  it("covers the README, docs/, bench/README.md and proto/", () => {
    expect(files).toEqual(
      expect.arrayContaining(["README.md", "bench/README.md", "docs/method.md", "docs/configuration.md", "proto/PROTOCOL.md"]),
    );
  });

  it("resolve inside the repository, to existing files and headings", () => {
    const problems = files.flatMap((file) => linkProblems(file, readFileSync(join(root, file), "utf8"), readInRepository));
    expect(problems).toEqual([]);
  });

  it("cite the method as docs/method.md, in documents and source alike: the repository has no MCL.md", () => {
    const sources = ["ts", "py", "bench", "scripts", "examples", "proto"].flatMap((dir) => textFiles(join(root, dir)));
    const citing = [...new Set([...files.map((file) => join(root, file)), ...sources])]
      .filter((path) => /\bMCL\.md\b/.test(readFileSync(path, "utf8")))
      .map((path) => relative(root, path));
    expect(citing).toEqual([]);
    expect(existsSync(join(root, "MCL.md"))).toBe(false);
  });

  it("are found and checked as GitHub renders them", () => {
    const files: Record<string, string> = { "docs/a.md": "# Title\n## The `clip` section\n## Title\n", "b.txt": "" };
    const read = (path: string) => files[path] ?? null;
    const check = (markdown: string) => linkProblems("docs/x.md", markdown, read);
    expect(check("[a](a.md#title) [b](a.md#the-clip-section) [c](a.md#title-1) ![d](../b.txt) [e]: a.md")).toEqual([]);
    expect(check("```\n[not a link](nowhere.md)\n```\n`[nor](this.md)`")).toEqual([]);
    expect(check("[a](missing.md)")).toEqual(["docs/x.md: missing.md does not exist (docs/missing.md)"]);
    expect(check("[a](a.md#nowhere)")).toEqual(["docs/x.md: a.md#nowhere names no heading of docs/a.md"]);
    expect(check("[a](https://example.org/)")[0]).toContain("leaves the repository");
    expect(check("<https://example.org/>")[0]).toContain("leaves the repository");
    expect(check("[a](../../shared/MCL.md)")[0]).toContain("outside the repository");
  });
});
