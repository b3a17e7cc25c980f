/** Every export format Sluice knows. A new format is one file beside this one and one line here. */
import { csvExporter } from './csv';
import { jsonlExporter } from './jsonl';

export const EXPORTERS = [jsonlExporter, csvExporter] as const;
