// Python plugin references (py:<module>:<attr>) and their keyword arguments in the run config.
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import { isPluginRef, parsePluginRef } from "../../../ts/config/plugin-ref.js";
import { issuesOf } from "../support/config-issues.js";

describe("plugin references", () => {
  test("parse into module and attribute; anything else is not one", () => {
    expect(parsePluginRef("py:my_pkg.models:make_encoder")).toEqual({ module: "my_pkg.models", attribute: "make_encoder" });
    expect(parsePluginRef("py:m:f")).toEqual({ module: "m", attribute: "f" });
    for (const bad of ["py:my_pkg.models", "py:my_pkg..models:f", "py:1pkg:f", "py:pkg:f.g", "python:pkg:f", "py:pkg:f:g"]) {
      expect(parsePluginRef(bad)).toBeNull();
    }
    expect(isPluginRef("py:anything")).toBe(true);
    expect(isPluginRef("synthetic:trifeature")).toBe(false);
  });

  test("the encoder, the dataset and the loss take a plugin with JSON arguments", () => {
    const config = parseConfig({
      name: "x",
      dataset: "py:my_pkg.data:CsvImages",
      datasetArgs: { csv_path: "/data/labels.csv", size: 32 },
      encoder: "py:my_pkg.models:make_encoder",
      encoderArgs: { widths: [16, 32], norm: { kind: "batch" } },
      loss: { name: "py:my_pkg.losses:my_loss", temperature: 0.1, args: { margin: 0.5 } },
    });
    expect(config.encoderArgs).toEqual({ widths: [16, 32], norm: { kind: "batch" } });
    expect(config.datasetArgs).toEqual({ csv_path: "/data/labels.csv", size: 32 });
    expect(config.loss).toEqual({ name: "py:my_pkg.losses:my_loss", temperature: 0.1, args: { margin: 0.5 } });
    expect(parseConfig({ name: "x" }).encoderArgs).toBeUndefined();
  });

  test("a malformed reference, or arguments to a built-in, is refused naming the field", () => {
    const [encoder, ...more] = issuesOf({ name: "x", encoder: "python:my_pkg:f" });
    expect(encoder).toMatch(/^encoder: expected one of small-cnn, resnet18, .* or a plugin py:<module>:<attr>, got "python:my_pkg:f"$/);
    expect(more).toEqual([]);
    expect(issuesOf({ name: "x", dataset: "py:my_pkg" })).toEqual(['dataset: expected a plugin reference py:<module.path>:<attribute>, got "py:my_pkg"']);
    expect(issuesOf({ name: "x", loss: { name: "py:pkg" } })[0]).toMatch(/^loss\.name: expected one of nt-xent, supcon, dcl.* or a plugin py:<module>:<attr>, got "py:pkg"$/);
    expect(issuesOf({ name: "x", encoderArgs: { widths: [8] } })).toEqual([
      'encoderArgs: only a plugin (py:<module>:<attr>) takes arguments, and "small-cnn" is built in; remove it',
    ]);
    expect(issuesOf({ name: "x", loss: { args: { margin: 1 } } })).toEqual([
      'loss.args: only a plugin (py:<module>:<attr>) takes arguments, and "nt-xent" is built in; remove it',
    ]);
    expect(issuesOf({ name: "x", encoder: "py:m:f", encoderArgs: { image_size: 32 } })).toEqual([
      "encoderArgs.image_size: the worker passes it from the dataset's images; remove it",
    ]);
  });
});
