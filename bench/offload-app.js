// bench/offload.js's app: staticFiles over $OFFLOAD_ROOT, nothing else.
import { staticFiles } from 'tsgi/middleware';

export default staticFiles({ root: process.env.OFFLOAD_ROOT, fallthrough: false })(() => []);
