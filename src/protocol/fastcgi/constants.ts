/**
 * FastCGI 1.0 wire constants (the FastCGI Specification, Open Market, 1996).
 * Section numbers refer to that document.
 */

/** §8: the only protocol version. */
export const FCGI_VERSION_1 = 1;

/** §3.3: every record starts with this 8-byte header. */
export const HEADER_LEN = 8;

/** §3.3: contentLength is a u16. */
export const MAX_CONTENT = 65535;

/** §3.3: paddingLength is a u8. */
export const MAX_PADDING = 255;

/** The largest record that can arrive: header + content + padding. */
export const MAX_RECORD = HEADER_LEN + MAX_CONTENT + MAX_PADDING;

/** §8 record types. */
export const enum RecordType {
  BeginRequest = 1,
  AbortRequest = 2,
  EndRequest = 3,
  Params = 4,
  Stdin = 5,
  Stdout = 6,
  Stderr = 7,
  Data = 8,
  GetValues = 9,
  GetValuesResult = 10,
  UnknownType = 11,
}

/** §5.1 roles of FCGI_BEGIN_REQUEST. */
export const enum Role {
  Responder = 1,
  Authorizer = 2,
  Filter = 3,
}

/** §5.1 FCGI_BEGIN_REQUEST flags. */
export const enum BeginFlags {
  KeepConn = 1,
}

/** §5.5 protocolStatus of FCGI_END_REQUEST. */
export const enum ProtocolStatus {
  RequestComplete = 0,
  CantMpxConn = 1,
  Overloaded = 2,
  UnknownRole = 3,
}

/** §4.1 the management variables an application may be asked about. */
export const FCGI_MAX_CONNS = 'FCGI_MAX_CONNS';
export const FCGI_MAX_REQS = 'FCGI_MAX_REQS';
export const FCGI_MPXS_CONNS = 'FCGI_MPXS_CONNS';
