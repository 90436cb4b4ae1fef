import { ImageCatalogue } from '../platform/image-facts';
import { HOTROD_IMAGE } from './hotrod';

/**
 * The images whose facts this project's presets hold, with the platform's own: what the commands
 * (validate, rehearse and explain on a folder) know of images unless an app registers more.
 */
export const PRESET_IMAGES: ImageCatalogue = ImageCatalogue.of(HOTROD_IMAGE);
