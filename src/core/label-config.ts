/**
 * What a Label Studio labeling config declares: its object tags (what is shown: `<Image name="image"
 * value="$image"/>`) and control tags (what people answer: `<Choices name="team" toName="text">` with its
 * `<Choice value>`s, `<RectangleLabels>` with its `<Label value>`s). Both the Label Studio step (to send
 * earlier steps' output as predictions) and the COCO exporter (categories) read it.
 */

export interface ObjectTag {
  /** the tag in lowercase, e.g. `image`, `text` */
  type: string;
  name: string;
  /** the task data field it shows, without the `$` */
  field: string;
}

export interface ControlTag {
  /** the tag in lowercase, which is also the result item's `type`: `choices`, `rectanglelabels`, ... */
  type: string;
  name: string;
  toName: string[];
  /** the values of its `<Label>` / `<Choice>` children, in order */
  values: string[];
}

export interface LabelConfig {
  objects: ObjectTag[];
  controls: ControlTag[];
}

type Node = Record<string, unknown> & { ':@'?: Record<string, string> };

export function parseLabelConfig(xml: string): LabelConfig {
  // loaded on first use: only pipelines with a Label Studio step parse a labeling config
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { XMLParser, XMLValidator } = require('fast-xml-parser') as typeof import('fast-xml-parser');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`the labeling config is not XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  const tree = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', preserveOrder: true }).parse(xml) as Node[];
  const config: LabelConfig = { objects: [], controls: [] };
  const walk = (nodes: Node[]) => {
    for (const node of nodes) {
      const tag = Object.keys(node).find((k) => k !== ':@');
      if (!tag || tag === '#text') continue;
      const attrs = node[':@'] ?? {};
      const children = (node[tag] as Node[] | undefined) ?? [];
      if (attrs.name && attrs.toName) {
        config.controls.push({ type: tag.toLowerCase(), name: attrs.name, toName: attrs.toName.split(','), values: childValues(children) });
      } else if (attrs.name && attrs.value?.startsWith('$')) {
        config.objects.push({ type: tag.toLowerCase(), name: attrs.name, field: attrs.value.slice(1) });
      }
      walk(children);
    }
  };
  walk(tree);
  if (config.objects.length === 0 && config.controls.length === 0) throw new Error('the labeling config declares no object or control tags');
  return config;
}

/** The `value` (or `alias`) of each `<Label>`/`<Choice>` below a control, nested ones included. */
function childValues(children: Node[]): string[] {
  const out: string[] = [];
  for (const node of children) {
    const tag = Object.keys(node).find((k) => k !== ':@');
    if (!tag) continue;
    const attrs = node[':@'] ?? {};
    if ((tag === 'Label' || tag === 'Choice') && (attrs.value ?? attrs.alias)) out.push(attrs.value ?? attrs.alias!);
    out.push(...childValues((node[tag] as Node[] | undefined) ?? []));
  }
  return out;
}
