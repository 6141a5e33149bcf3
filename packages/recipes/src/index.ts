export { buildModel, isZooModel, type ZooBuilder, type ZooOptions, zoo, zooNames } from "./zoo/index.js";
