// Development placeholder: a kernel table whose every entry throws until its owning issue lands the real one.
export function pending<T extends object>(area: string): T {
  return new Proxy({} as T, {
    get(_t, prop) {
      if (prop === 'then') return undefined;
      return () => {
        throw new Error(`${area}.${String(prop)}: not built yet`);
      };
    },
  });
}
