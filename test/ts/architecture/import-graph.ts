// The import graph of ts/, read with the TypeScript compiler's parser: one node per source file,
// one edge per relative import, re-export, `import("…")` call or `import("…")` type. Type-only
// imports are edges marked as such: a layer that names another layer's types depends on it as
// surely as one that calls it, but an import the compiler erases cannot take part in a cycle of
// module loading. (`import { type A }` stays, as a bare import, under verbatimModuleSyntax.)
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

export interface ImportEdge {
  readonly from: string;
  readonly to: string;
  readonly line: number;
  /** `import type`, `export type` or an `import("…")` type: gone from the emitted JavaScript. */
  readonly typeOnly: boolean;
}

/** Files as paths relative to the repository root, with "/" separators (e.g. "ts/control/rng.ts"). */
export interface ImportGraph {
  readonly files: readonly string[];
  readonly edges: readonly ImportEdge[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

interface Specifier {
  readonly text: string;
  readonly pos: number;
  readonly typeOnly: boolean;
}

function specifiers(source: ts.SourceFile): Specifier[] {
  const found: Specifier[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly = node.importClause?.isTypeOnly ?? false;
      found.push({ text: node.moduleSpecifier.text, pos: node.getStart(source), typeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ text: node.moduleSpecifier.text, pos: node.getStart(source), typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg !== undefined && ts.isStringLiteralLike(arg)) found.push({ text: arg.text, pos: node.getStart(source), typeOnly: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ text: node.argument.literal.text, pos: node.getStart(source), typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Resolves a relative specifier as NodeNext does for our sources ("./x.js" is "./x.ts"). */
function resolveSpecifier(fromFile: string, specifier: string, known: ReadonlySet<string>): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const base = resolve(dirname(fromFile), specifier);
  const candidates = [base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts")];
  return candidates.find((candidate) => known.has(candidate));
}

/** Reads every .ts file under `root`/`dir`; imports that leave `dir` (node:, packages, json) are not edges. */
export function readImportGraph(root: string, dir: string): ImportGraph {
  const absolute = sourceFiles(join(root, dir)).sort();
  const known = new Set(absolute);
  const name = (path: string): string => relative(root, path).split(sep).join("/");
  const edges: ImportEdge[] = [];
  for (const file of absolute) {
    const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    for (const { text, pos, typeOnly } of specifiers(source)) {
      const target = resolveSpecifier(file, text, known);
      if (target === undefined) continue;
      edges.push({ from: name(file), to: name(target), line: source.getLineAndCharacterOfPosition(pos).line + 1, typeOnly });
    }
  }
  return { files: absolute.map(name), edges };
}

/**
 * The cycles of module loading: the strongly connected components of the edges that stay in the
 * emitted JavaScript with more than one file (or a file importing itself), each given as one
 * cycle through it, [a, b, …, a], starting at its first file in sorted order.
 */
export function findCycles(graph: ImportGraph): string[][] {
  const next = new Map<string, string[]>(graph.files.map((file) => [file, []]));
  for (const edge of graph.edges) if (!edge.typeOnly) next.get(edge.from)?.push(edge.to);
  for (const targets of next.values()) targets.sort();

  // Tarjan's algorithm, iterative so that a long chain of imports cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const start of graph.files) {
    if (index.has(start)) continue;
    const work: { node: string; child: number }[] = [{ node: start, child: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const targets = next.get(frame.node)!;
      if (frame.child < targets.length) {
        const target = targets[frame.child++]!;
        if (!index.has(target)) {
          index.set(target, counter);
          low.set(target, counter++);
          stack.push(target);
          onStack.add(target);
          work.push({ node: target, child: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(target)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        const selfLoop = component.length === 1 && targets.includes(frame.node);
        if (component.length > 1 || selfLoop) components.push(component.sort());
      }
    }
  }
  return components.map((component) => cycleThrough(component, next)).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** A shortest cycle from the component's first file back to itself, staying inside the component. */
function cycleThrough(component: readonly string[], next: ReadonlyMap<string, readonly string[]>): string[] {
  const members = new Set(component);
  const start = component[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const target of next.get(node) ?? []) {
      if (!members.has(target)) continue;
      if (target === start) {
        const path = [start];
        for (let at: string | undefined = node; at !== undefined && at !== start; at = previous.get(at)) path.push(at);
        return [start, ...path.slice(1).reverse(), start];
      }
      if (!previous.has(target)) {
        previous.set(target, node);
        queue.push(target);
      }
    }
  }
  return [start, start];
}
