import { SluiceError } from '../../core/errors';

export function duplicateInBatch(keys: string[]): SluiceError {
  return new SluiceError(
    'SLUICE_SOURCE_DUPLICATE_KEY',
    `the source returned the same key more than once in one batch (${keys.slice(0, 5).join(', ')}); the batch was not staged`,
    { key: keys[0], hint: 'choose key columns that identify one row' },
  );
}
