/** An Io for runCli that keeps what each stream received, so a test can assert on stdout and stderr. */
export function capture() {
  let out = "";
  let err = "";
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
    out: () => out,
    err: () => err,
  };
}
