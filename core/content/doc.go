// Package content defines what Peerflow shares: the manifest of a file (its
// name, size, chunk size and the SHA-256 of every chunk), the content ID that
// names it (the SHA-256 of the manifest's canonical encoding), share links,
// and the validation every manifest from outside must pass.
//
// A manifest is built by streaming the file once, hashing chunks on every
// core, with memory bounded by a few chunk buffers whatever the file size.
package content
