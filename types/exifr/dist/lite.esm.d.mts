// The lite build (exifr README, "Bundles") exports the same functions as the full one, also as its default.
import * as exifr from "exifr";
export * from "exifr";
export default exifr;
