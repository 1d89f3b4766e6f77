import { describe, expect, it } from 'vitest';
import { degradedRetrievalNotice } from './retrieval-notice';

describe('degradedRetrievalNotice', () => {
  it('says nothing when every server did its part', () => {
    expect(degradedRetrievalNotice('a.bin', [], [], true)).toBeUndefined();
  });

  it('names one server that did not answer, and the scheduled check', () => {
    expect(degradedRetrievalNotice('a.bin', [], ['relay-4'], true)).toBe(
      'Retrieved a.bin from the other servers, complete and verified, but storage server relay-4 did not answer. A check of its storage servers has been scheduled.'
    );
  });

  it('names every failing server, damaged data first, and leaves the check out when none was scheduled', () => {
    expect(degradedRetrievalNotice('a.bin', ['relay-1'], ['relay-4', 'relay-5', 'relay-6'], false)).toBe(
      'Retrieved a.bin from the other servers, complete and verified, but storage server relay-1 sent damaged data, which was ignored, and storage servers relay-4, relay-5 and relay-6 did not answer.'
    );
  });
});
