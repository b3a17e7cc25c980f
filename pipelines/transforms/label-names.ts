/**
 * Issue labels ↔ a text column, for `pipelines/issues-sync.yaml`. GitHub answers with label objects
 * (`{ id, name, color, … }`) but takes label names when an issue is created or updated, so a → b keeps the
 * names, joined by commas, and b → a splits them again into the array of names the API takes. No labels
 * is `''` on the table side and `[]` on the API side, both ways.
 */

/** Label objects (or names) → `"bug,docs"`. Throws, which is "cannot convert", for anything else. */
export function toB(labels: unknown): string {
  if (!Array.isArray(labels)) throw new Error(`labels are a list, not ${JSON.stringify(labels)}`);
  return labels
    .map((label: unknown) => {
      const name = typeof label === 'string' ? label : typeof label === 'object' && label !== null ? (label as { name?: unknown }).name : undefined;
      if (typeof name !== 'string') throw new Error(`a label has no name: ${JSON.stringify(label)}`);
      if (name.includes(',')) throw new Error(`label ${JSON.stringify(name)} has a comma, which the text column separates labels with`);
      return name;
    })
    .join(',');
}

/** `"bug, docs"` → `["bug", "docs"]`: names trimmed, empty ones and repeats dropped. */
export function toA(text: unknown): string[] {
  if (typeof text !== 'string') throw new Error(`labels are text, not ${JSON.stringify(text)}`);
  return [...new Set(text.split(',').map((name) => name.trim()).filter((name) => name !== ''))];
}
