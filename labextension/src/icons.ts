/**
 * The sidebar's icon, coloured by the theme through JupyterLab's icon classes.
 */
import { LabIcon } from '@jupyterlab/ui-components';

import checkpointSvg from '../style/icons/checkpoint.svg';

/** A box of snapshots with a clock: the checkpoints of a project. */
export const checkpointIcon = new LabIcon({
  name: 'jellycell-jupyter:checkpoint',
  svgstr: checkpointSvg
});
