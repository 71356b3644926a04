/**
 * Which CGI meta-variables an environ must carry and which it may only carry
 * with a value (C2, C3). The gateway fills the environ by these lists and the
 * validator checks it by the same lists.
 */

/** C2: always present (QUERY_STRING and SCRIPT_NAME may be ''). */
export const REQUIRED_VARS: readonly string[] = [
  'REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL',
];

/**
 * C3: optional meta-variables, absent when they carry no value (never '').
 * CONTENT_LENGTH is in the list for the gateway, which drops an empty one;
 * C3 lets '' mean "no body" too, so the validator accepts it.
 */
export const OPTIONAL_VARS: readonly string[] = [
  'AUTH_TYPE', 'CONTENT_LENGTH', 'CONTENT_TYPE', 'GATEWAY_INTERFACE', 'HTTPS', 'PATH_TRANSLATED',
  'REMOTE_ADDR', 'REMOTE_HOST', 'REMOTE_IDENT', 'REMOTE_PORT', 'REMOTE_USER', 'REQUEST_SCHEME',
  'SERVER_SOFTWARE', 'SERVER_ADDR', 'DOCUMENT_ROOT', 'DOCUMENT_URI', 'REQUEST_URI', 'SCRIPT_FILENAME',
];

/** C5: the values of `HTTPS` that mean the request came over TLS (any case). */
export const HTTPS_ON = /^(?:on|1|yes)$/i;
