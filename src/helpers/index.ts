/**
 * `tsgi/helpers`: Request and Response, conveniences over environ and
 * startResponse with UTF-8 text in and out. They import contract/ only.
 */
export { Request, type Multipart, type RequestLimits, type UploadedFile } from './request.js';
export { Response, type CookieOptions, type ResponseInit } from './response.js';
export { HttpError } from './http-error.js';
