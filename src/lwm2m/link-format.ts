/**
 * RFC 6690 §2 CoRE Link Format, the payload of an LwM2M Register/Update (OMA-TS-LightweightM2M-Transport
 * §6.2.1): `</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5>;ver=1.0`. Strict: anything the grammar does not
 * allow is an error naming the byte offset, so a malformed registration is refused, not half-read.
 */
export interface Link {
  uri: string;
  /** Parameter name → value; a parameter without `=` has value true. */
  params: Map<string, string | true>;
}

export class LinkFormatError extends Error {
  override readonly name = 'LinkFormatError';
}

// RFC 6690 §2: parmname = %x61-7A *( %x61-7A / DIGIT / "-" ) (lowercase; RFC 5988 allows more, we accept ALPHA too).
const PARMNAME = /^[A-Za-z][A-Za-z0-9!#$&+\-.^_`|~]*/;
// ptoken = 1*ptokenchar (RFC 5988 §5 / RFC 6690 §2)
const PTOKEN = /^[!#$%&'()*+\-./0-9:<=>?@A-Z[\]^_`a-z{|}~]+/;

export function parseLinkFormat(text: string, maxLinks = 1000): Link[] {
  const links: Link[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new LinkFormatError(`link format: ${what} at offset ${i}`);
  };
  if (text.length === 0) return links;
  for (;;) {
    if (text[i] !== '<') fail(`expected '<' to open a link, found ${text[i] === undefined ? 'end of payload' : JSON.stringify(text[i])}`);
    const end = text.indexOf('>', i + 1);
    if (end < 0) fail("'<' without a closing '>'");
    const uri = text.slice(i + 1, end);
    if (/[\s<>",]/.test(uri)) fail(`URI ${JSON.stringify(uri.slice(0, 40))} contains a character not allowed in a URI-reference`);
    i = end + 1;
    const params = new Map<string, string | true>();
    while (text[i] === ';') {
      i++;
      const name = PARMNAME.exec(text.slice(i))?.[0];
      if (!name) fail('expected a parameter name after ;');
      i += name!.length;
      let value: string | true = true;
      if (text[i] === '=') {
        i++;
        if (text[i] === '"') {
          let v = '';
          i++;
          for (;;) {
            const c = text[i];
            if (c === undefined) fail('unterminated quoted-string');
            if (c === '"') break;
            if (c === '\\') {
              i++;
              if (text[i] === undefined) fail('unterminated quoted-string');
            }
            v += text[i];
            i++;
          }
          i++;
          value = v;
        } else {
          // ptokenchar has no ';' or ',', so a token ends at the next parameter or link.
          const tok = PTOKEN.exec(text.slice(i))?.[0];
          if (!tok) fail(`parameter ${name} has = but no value`);
          value = tok!;
          i += tok!.length;
        }
      }
      if (params.has(name!.toLowerCase())) fail(`parameter ${name} given twice in one link`);
      params.set(name!.toLowerCase(), value);
    }
    links.push({ uri, params });
    if (links.length > maxLinks) fail(`more than ${maxLinks} links`);
    if (i === text.length) return links;
    if (text[i] !== ',') fail(`expected ',' or ';' after a link, found ${JSON.stringify(text[i])}`);
    i++;
    if (i === text.length) fail('trailing comma');
  }
}
