/**
 * An example of a refine step of your own, used from a pipeline file as `- module: pipelines/steps/redact-emails.ts`
 * inside `rules:`. It replaces e-mail addresses in every string field with `<email>` before records go to
 * people or to a model, and quarantines a record whose `email` field is not an address at all.
 */
import type { RefineOutcome, RefineRecord, RefineStep } from 'sluice';

const EMAIL = /[^\s@<>]+@[^\s@<>]+\.[a-z]{2,}/gi;

const redactEmails: RefineStep = {
  name: 'redact-emails',
  version: '1',
  async refine(records: readonly RefineRecord[]): Promise<RefineOutcome[]> {
    return records.map(({ data }) => {
      if (typeof data.email === 'string' && !/^[^\s@]+@[^\s@]+$/.test(data.email)) {
        return { status: 'quarantined', failures: [{ rule: 'redact-emails', field: 'email', reason: 'is not an e-mail address' }] };
      }
      const out = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, typeof v === 'string' && k !== 'email' ? v.replace(EMAIL, '<email>') : v]));
      return { status: 'refined', data: out };
    });
  },
};

export default redactEmails;
