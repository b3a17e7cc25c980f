import { SluiceError } from '../../core/errors';
import { msg } from '../../core/i18n';

export function duplicateInBatch(keys: string[]): SluiceError {
  return new SluiceError('SLUICE_SOURCE_DUPLICATE_KEY', msg('err.stage.sql.errors.1', { value: keys.slice(0, 5).join(', ') }),
    { key: keys[0], hint: 'choose key columns that identify one row' },
  );
}
