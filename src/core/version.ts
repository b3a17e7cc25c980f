import pkg from '../../package.json';

/** Sluice's version, as written into manifests and shown by `sluice --version`. */
export const VERSION: string = pkg.version;
