/** An element of a parsed XML document: enough for OME-XML and PerkinElmer descriptions. */
export interface XmlElement {
  /** Tag name without namespace prefix. */
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated text directly inside the element, entities decoded, trimmed. */
  text: string;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? m;
  });
}

function localName(qname: string): string {
  const i = qname.indexOf(':');
  return i < 0 ? qname : qname.slice(i + 1);
}

/**
 * Parse XML into a tree. Tolerant by design (image descriptions are written by many tools, some
 * sloppily): unmatched closing tags are ignored and an unclosed document returns what was read.
 * Returns null when there is no element at all.
 */
export function parseXml(src: string): XmlElement | null {
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  const texts: string[][] = [[]];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const lt = src.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i) texts[texts.length - 1]?.push(src.slice(i, textEnd));
    if (lt < 0) break;
    if (src.startsWith('<!--', lt)) {
      const end = src.indexOf('-->', lt + 4);
      i = end < 0 ? n : end + 3;
    } else if (src.startsWith('<![CDATA[', lt)) {
      const end = src.indexOf(']]>', lt + 9);
      texts[texts.length - 1]?.push(src.slice(lt + 9, end < 0 ? n : end));
      i = end < 0 ? n : end + 3;
    } else if (src.startsWith('<?', lt) || src.startsWith('<!', lt)) {
      const end = src.indexOf('>', lt + 2);
      i = end < 0 ? n : end + 1;
    } else if (src.startsWith('</', lt)) {
      const end = src.indexOf('>', lt + 2);
      const name = localName(src.slice(lt + 2, end < 0 ? n : end).trim());
      i = end < 0 ? n : end + 1;
      const at = findOpen(stack, name);
      if (at > 0) {
        while (stack.length > at) closeTop(stack, texts);
      }
    } else {
      const end = findTagEnd(src, lt + 1);
      const raw = src.slice(lt + 1, end);
      i = end + 1;
      const selfClosing = raw.endsWith('/');
      const body = selfClosing ? raw.slice(0, -1) : raw;
      const m = /^\s*([^\s/>]+)/.exec(body);
      if (!m?.[1]) continue;
      const el: XmlElement = {
        name: localName(m[1]),
        attrs: parseAttrs(body.slice(m[0].length)),
        children: [],
        text: '',
      };
      stack[stack.length - 1]?.children.push(el);
      if (!selfClosing) {
        stack.push(el);
        texts.push([]);
      }
    }
  }
  while (stack.length > 1) closeTop(stack, texts);
  return root.children.find(() => true) ?? null;
}

function closeTop(stack: XmlElement[], texts: string[][]): void {
  const el = stack.pop();
  const t = texts.pop();
  if (el && t) el.text = decodeEntities(t.join('')).trim();
}

function findOpen(stack: XmlElement[], name: string): number {
  for (let k = stack.length - 1; k > 0; k--) if (stack[k]?.name === name) return k;
  return -1;
}

/** End of a start tag, skipping '>' inside quoted attribute values. */
function findTagEnd(src: string, from: number): number {
  let quote = '';
  for (let k = from; k < src.length; k++) {
    const c = src[k];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '>') return k;
  }
  return src.length;
}

function parseAttrs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const key = m[1];
    if (key) out[localName(key)] = decodeEntities(m[3] ?? m[4] ?? '');
  }
  return out;
}

/** Direct children named `name`. */
export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** First direct child named `name`. */
export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

/** All descendants named `name`, depth first. */
export function descendants(el: XmlElement, name: string, out: XmlElement[] = []): XmlElement[] {
  for (const c of el.children) {
    if (c.name === name) out.push(c);
    descendants(c, name, out);
  }
  return out;
}
