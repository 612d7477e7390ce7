// FLV: container reading and writing, script data, and the audio/video tag body helpers that RTMP
// shares (its media message payloads are FLV tag bodies).
export * from './flv-format.js';
export { FlvParser, type FlvParserOptions } from './flv-parser.js';
export { encodeFlvHeader, encodeFlvTag } from './flv-writer.js';
export { decodeFlvScriptData, encodeFlvScriptData, type FlvScriptData } from './flv-script-data.js';
export { MediaFormatError } from './media-format-error.js';
