// The command-line parse every `mcl` command shares (ts/cli/args.ts) and the "did you mean" it and
// the config errors use (ts/config/suggest.ts).
import { describe, expect, test } from "vitest";
import { asksForHelp, CommandUsageError, formatHelp, type OptionSpec, parseArgs } from "../../../ts/cli/args.js";
import { closest, editDistance } from "../../../ts/config/suggest.js";

const options: readonly OptionSpec[] = [
  { name: "--set", value: "KEY=VALUE", repeatable: true, help: "change a field" },
  { name: "--out", value: "FILE", help: "where" },
  { name: "--json", help: "as JSON" },
];

describe("parseArgs", () => {
  test("positionals, values (--x v and --x=v), repeated values in order, flags", () => {
    const parsed = parseArgs(["a.yaml", "--set", "x=1", "--json", "--set=y.z=[1, 2]", "--out=o.pt", "b"], options);
    expect(parsed.positional).toEqual(["a.yaml", "b"]);
    expect(parsed.lists.get("--set")).toEqual(["x=1", "y.z=[1, 2]"]);
    expect(parsed.values.get("--out")).toBe("o.pt");
    expect([...parsed.flags]).toEqual(["--json"]);
  });

  test("an option given twice that is not repeatable keeps its last value", () => {
    expect(parseArgs(["--out", "a", "--out", "b"], options).lists.get("--out")).toEqual(["b"]);
  });

  test("-- ends the options; a lone - is a positional; a value may start with one dash", () => {
    expect(parseArgs(["--", "--json", "-h"], options).positional).toEqual(["--json", "-h"]);
    expect(parseArgs(["-"], options).positional).toEqual(["-"]);
    expect(parseArgs(["--set", "-1"], options).values.get("--set")).toBe("-1");
  });

  test.each([
    [["--ot", "x"], "unknown option --ot; did you mean \"--out\"?"],
    [["--frobnicate"], "unknown option --frobnicate"],
    [["--out"], "--out needs a value: --out FILE"],
    [["--out", "--json"], "--out needs a value: --out FILE"],
    [["--json=yes"], "--json is a flag and takes no value"],
  ])("%j is refused: %s", (args, message) => {
    expect(() => parseArgs(args, options)).toThrow(new CommandUsageError(message));
  });
});

describe("asksForHelp", () => {
  test("-h or --help where an option may stand, not as an option's value or after --", () => {
    expect(asksForHelp(["cfg.yaml", "-h"], options)).toBe(true);
    expect(asksForHelp(["--help", "--frob"], options)).toBe(true);
    expect(asksForHelp(["--out", "-h"], options)).toBe(false);
    expect(asksForHelp(["--", "--help"], options)).toBe(false);
    expect(asksForHelp(["cfg.yaml"], undefined)).toBe(false);
  });
});

test("formatHelp lists every option with its value and help, then --help", () => {
  const help = formatHelp("mcl x <file> [options]", "does x", options);
  expect(help.split("\n")).toEqual([
    "usage: mcl x <file> [options]",
    "",
    "does x",
    "",
    "options:",
    "  --set KEY=VALUE  change a field (repeatable)",
    "  --out FILE       where",
    "  --json           as JSON",
    "  --help           show this help and exit (also -h)",
  ]);
});

describe("closest", () => {
  test("edit distance counts a transposition as one edit", () => {
    expect(editDistance("stages", "stagse")).toBe(1);
    expect(editDistance("resnet-18", "resnet18")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
  });

  test("suggests a near name, case aside, and nothing for a far one", () => {
    expect(closest("resnet-18", ["small-cnn", "resnet18", "resnet50"])).toBe("resnet18");
    expect(closest("RUN", ["run", "resume"])).toBe("run");
    expect(closest("banana", ["run", "resume", "report"])).toBeUndefined();
    // Two edits in a short name, or a tie, is no guess: fp8 is as far from fp16 as from fp32.
    expect(closest("fp8", ["fp32", "fp16"])).toBeUndefined();
    expect(closest("fp3", ["fp32", "fp16"])).toBe("fp32");
    expect(closest("temprature", ["temperature"])).toBe("temperature");
  });
});
