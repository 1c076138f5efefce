// The iso-3166-2 package ships no types; this declares the part of its API the core reads.
declare module 'iso-3166-2' {
  interface Iso3166Subdivision {
    type: string;
    name: string;
  }
  interface Iso3166Country {
    name: string;
    sub: Record<string, Iso3166Subdivision>;
  }
  const iso3166: {
    /** Keyed by ISO 3166-1 alpha-2; subdivisions keyed by full code ("US-CA"). */
    data: Record<string, Iso3166Country>;
    /** alpha-3 → alpha-2. */
    codes: Record<string, string>;
  };
  export default iso3166;
}
