// Types of notebook-ipynb.mjs, for the test that holds examples/notebook.ipynb to its source.

/** examples/notebook.ts, the notebook's one source. */
export declare const NOTEBOOK_SOURCE: string;
/** examples/notebook.ipynb, made from it. */
export declare const NOTEBOOK_IPYNB: string;
/** The .ipynb text of the module `source` (nbformat 4, no outputs, one trailing newline). */
export declare function renderNotebook(source: string): string;
