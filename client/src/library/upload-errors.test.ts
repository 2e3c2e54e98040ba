import { describe, expect, it } from 'vitest';
import { uploadError } from './upload-errors.ts';

describe('upload errors', () => {
  it('open with one plain sentence, the technical words and code beneath', () => {
    expect(
      uploadError('TRUNCATED_FILE', 'slide.svs: JPEG tile 3,4 ends at byte 9 but the file has only 5 bytes'),
    ).toEqual({
      text: 'This file is cut short — the upload or copy did not finish.',
      detail: 'slide.svs: JPEG tile 3,4 ends at byte 9 but the file has only 5 bytes (TRUNCATED_FILE)',
    });
    expect(uploadError('UNSUPPORTED_FORMAT', 'x').text).toBe('This is not a slide format Tessera reads.');
  });
  it('says something plain for a code it does not know, or none', () => {
    expect(uploadError('SOMETHING_NEW', 'm')).toEqual({
      text: 'The slide could not be added.',
      detail: 'm (SOMETHING_NEW)',
    });
    expect(uploadError(null, 'm')).toEqual({ text: 'The slide could not be added.', detail: 'm' });
  });
});
