// Config files as `mcl run` reads them: YAML or JSON by extension, errors naming the file and the
// line, "did you mean" for keys and for the values a field allows, and --set changes refused by
// the same schema with the same message as the file's.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { ConfigError, type ConfigIssue } from "../../../ts/config/config-error.js";
import { applyOverrides, parseOverride } from "../../../ts/config/config-overrides.js";
import { loadConfigFile, parseConfig } from "../../../ts/config/load-config.js";

const dir = mkdtempSync(join(tmpdir(), "mcl-config-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The ConfigError that loading `path` with `sets` gives. */
async function refusal(path: string, sets: string[] = []): Promise<ConfigError> {
  const error: unknown = await loadConfigFile(path, sets.map(parseOverride)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe("a YAML config", () => {
  test("is read by its extension, .yaml or .yml, to the same config as its JSON", async () => {
    const yaml = "name: yaml-run\nstages: 2\nloss:\n  temperature: 0.2\nintegration:\n  stages: [1, 2]\n";
    const json = JSON.stringify({ name: "yaml-run", stages: 2, loss: { temperature: 0.2 }, integration: { stages: [1, 2] } });
    const expected = await loadConfigFile(file("same.json", json));
    expect(await loadConfigFile(file("run.yaml", yaml))).toEqual(expected);
    expect(await loadConfigFile(file("run.YML", yaml))).toEqual(expected);
  });

  test("a syntax error names the file, line and column", async () => {
    const error = await refusal(file("broken.yaml", "name: x\nstages: [1, 2\nseed: 3\n"));
    expect(error.code).toBe("CONFIG_SYNTAX");
    expect(error.message).toMatch(/^.*broken\.yaml:\d+:\d+: invalid YAML: /);
    const duplicate = await refusal(file("twice.yaml", "name: x\nname: y\n"));
    expect(duplicate.message).toContain("twice.yaml:2:1: invalid YAML: Map keys must be unique");
  });

  test("a YAML text in a file of another extension is read as JSON, and the error says so", async () => {
    const error = await refusal(file("run.conf", "name: x\n"));
    expect(error.code).toBe("CONFIG_SYNTAX");
    expect(error.message).toMatch(/run\.conf:\d+:\d+: invalid JSON/);
    expect(error.message).toContain("(a YAML config needs the extension .yaml or .yml)");
  });

  test("each invalid field names its line and the value it may have meant", async () => {
    const path = file("typos.yaml", "name: typos\nencoder: resnet-18\nloss:\n  name: supconn\n  temprature: 0.2\ninit: scrach\n");
    const error = await refusal(path);
    expect(error.code).toBe("INVALID_CONFIG");
    expect(error.message.split("\n")[0]).toBe(`invalid ${path}:`);
    expect(error.details.issues).toEqual([
      { path: "encoder", message: expect.stringMatching(/^expected one of small-cnn, resnet18, .*, got "resnet-18"; did you mean "resnet18"\? \(line 2\)$/) },
      { path: "init", message: 'expected one of "scratch", "pretrained", "previous", got "scrach"; did you mean "scratch"? (line 6)' },
      { path: "loss.name", message: expect.stringMatching(/^expected one of nt-xent, supcon, dcl .*, got "supconn"; did you mean "supcon"\? \(line 4\)$/) },
      { path: "loss.temprature", message: 'unknown key; did you mean "temperature"? (line 5)' },
    ]);
  });

  test("a value far from every allowed one gets the list, and no guess", () => {
    expect(() => parseConfig({ init: "zzzzzzzz" })).toThrow(/init: expected one of "scratch", "pretrained", "previous", got "zzzzzzzz"$/m);
  });
});

describe("--set", () => {
  test("parses its value as YAML: numbers, booleans, arrays, objects, quoted strings", () => {
    expect(parseOverride("loss.temperature=0.2")).toEqual({ path: ["loss", "temperature"], value: 0.2, text: "--set loss.temperature=0.2" });
    expect(parseOverride("baseline=false").value).toBe(false);
    expect(parseOverride("integration.stages=[1, 3]").value).toEqual([1, 3]);
    expect(parseOverride('name="007"').value).toBe("007");
    expect(parseOverride("augmentation={jitter: 0}").value).toEqual({ jitter: 0 });
    expect(parseOverride("integration.stages[1]=2").path).toEqual(["integration", "stages", 1]);
    expect(parseOverride("dataset=synthetic:trifeature?n=64").value).toBe("synthetic:trifeature?n=64");
  });

  test.each([["stages"], ["=3"], ["loss..name=x"], ["a[x]=1"], ["x=[1"], ["__proto__.polluted=1"], ["loss.constructor.prototype.x=1"]])("refuses the malformed %s", (text) => {
    expect(() => parseOverride(text)).toThrow(expect.objectContaining({ code: "INVALID_OVERRIDE", message: expect.stringContaining(`--set ${text}:`) }));
  });

  test("cannot reach an object's prototype", () => {
    expect(() => applyOverrides({}, [parseOverride("__proto__.polluted=1")])).toThrow();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("applies over the file's values, making the sections it names, and leaves the file's value alone", () => {
    const config = { name: "x", loss: { name: "nt-xent" } };
    const changed = applyOverrides(config, ["loss.temperature=0.3", "integration.stages[0]=2", "name=y"].map(parseOverride));
    expect(changed).toEqual({ name: "y", loss: { name: "nt-xent", temperature: 0.3 }, integration: { stages: [2] } });
    expect(config).toEqual({ name: "x", loss: { name: "nt-xent" } });
  });

  test("refuses a path through a value that is not a section, or past an array's end", () => {
    expect(() => applyOverrides({ loss: "x" }, [parseOverride("loss.name=dcl")])).toThrow(
      '--set loss.name=dcl: loss is not a section (an object), so it has no "name"',
    );
    expect(() => applyOverrides({ integration: { stages: [1] } }, [parseOverride("integration.stages[3]=2")])).toThrow(
      "--set integration.stages[3]=2: integration.stages has 1 entries; an index past its end leaves a gap",
    );
  });

  test("an unknown key or bad value gives the file's own message, naming the --set instead of a line", async () => {
    const fromFile = await refusal(file("unknown.yaml", "name: u\nloss:\n  temprature: 0.2\nencoder: resnet-18\n"));
    const fromSet = await refusal(file("plain.yaml", "name: u\n"), ["loss.temprature=0.2", "encoder=resnet-18"]);
    const withoutWhere = (issues: readonly ConfigIssue[]) => issues.map((issue) => ({ ...issue, message: issue.message.replace(/ \([^()]*\)$/, "") }));
    expect(withoutWhere(fromSet.details.issues)).toEqual(withoutWhere(fromFile.details.issues));
    expect(fromFile.details.issues).toContainEqual({ path: "loss.temprature", message: 'unknown key; did you mean "temperature"? (line 3)' });
    expect(fromSet.details.issues).toContainEqual({ path: "loss.temprature", message: 'unknown key; did you mean "temperature"? (--set loss.temprature=0.2)' });
  });

  test("a JSON file's issues name their lines too", async () => {
    const error = await refusal(file("lines.json", '{\n  "name": "j",\n  "stages": 0\n}\n'));
    expect(error.details.issues).toEqual([{ path: "stages", message: "expected an integer >= 1, got 0 (line 3)" }]);
  });
});
