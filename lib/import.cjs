'use strict';
// import() for the bundle. On Node 20, lib/load.cjs may run the bundle from a
// V8 code cache, and code restored from a cache cannot call import() itself
// ("A dynamic import callback was not specified"): the bundle imports through
// this file, which Node compiles the usual way.
module.exports = (specifier) => import(specifier);
