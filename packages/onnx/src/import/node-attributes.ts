import { AttributeType, type NodeProto } from "../proto/types.js";

/*
 * Reading a node's attributes strictly: the importer lists the attributes it understands for each op,
 * and anything else present (or present with the wrong attribute type) is refused by name rather than
 * ignored, because an ignored attribute would change what the layer computes.
 */

const KIND_NAMES: Readonly<Record<number, string>> = {
  [AttributeType.FLOAT]: "FLOAT",
  [AttributeType.INT]: "INT",
  [AttributeType.STRING]: "STRING",
  [AttributeType.TENSOR]: "TENSOR",
  [AttributeType.FLOATS]: "FLOATS",
  [AttributeType.INTS]: "INTS",
};

const utf8 = new TextDecoder();

/** The shortest decimal that rounds to the float32 `f` (1e-5 comes back as 1e-5, not 9.99999974738e-6). */
export function float32Decimal(f: number): number {
  const target = Math.fround(f);
  // −0 must stay −0 (a Clip at −0 is written back bit for bit); toPrecision would drop its sign.
  if (!Number.isFinite(target) || target === 0) return target;
  for (let digits = 1; digits <= 9; digits++) {
    const d = Number(target.toPrecision(digits));
    if (Math.fround(d) === target) return d;
  }
  return target;
}

export class NodeAttributes {
  readonly #byName = new Map<string, NodeProto["attribute"][number]>();

  constructor(
    private readonly where: string,
    node: NodeProto,
    known: Readonly<Record<string, number>>,
  ) {
    for (const a of node.attribute) {
      const kind = known[a.name];
      if (kind === undefined) {
        const list = Object.keys(known);
        throw new Error(
          `${where}: attribute '${a.name}' is not supported (${list.length ? `supported: ${list.join(", ")}` : "this op takes none"})`,
        );
      }
      if (a.type !== kind) {
        throw new Error(
          `${where}: attribute '${a.name}' must be ${KIND_NAMES[kind]}, got attribute type ${KIND_NAMES[a.type] ?? a.type}`,
        );
      }
      this.#byName.set(a.name, a);
    }
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  int(name: string, fallback: number): number {
    return this.#byName.get(name)?.i ?? fallback;
  }

  /** A float attribute as the decimal it was most likely written from. */
  float(name: string, fallback: number): number {
    const a = this.#byName.get(name);
    return a?.f === undefined ? fallback : float32Decimal(a.f);
  }

  ints(name: string, fallback: readonly number[]): number[] {
    const a = this.#byName.get(name);
    return a === undefined ? [...fallback] : [...a.ints];
  }

  string(name: string, fallback: string): string {
    const a = this.#byName.get(name);
    return a?.s === undefined ? fallback : utf8.decode(a.s);
  }

  /** Refuse a value the importer cannot represent, naming the attribute. */
  refuse(name: string, value: unknown, why: string): never {
    throw new Error(`${this.where}: attribute '${name}' = ${JSON.stringify(value)} is not supported: ${why}`);
  }
}
