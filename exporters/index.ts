/** Every export format Sluice knows. A new format is one file beside this one and one line here. */
import { cocoExporter } from './coco';
import { csvExporter } from './csv';
import { jsonExporter } from './json';
import { jsonlExporter } from './jsonl';
import { vocExporter } from './voc';
import { yoloExporter } from './yolo';

export const EXPORTERS = [jsonlExporter, jsonExporter, csvExporter, cocoExporter, yoloExporter, vocExporter] as const;
