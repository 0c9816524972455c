"""The WaveCoder data pipeline (arXiv 2312.14187) as Dagster assets."""

# Cited by the dataset card and the model card.
CITATION = """@article{yu2023wavecoder,
  title   = {WaveCoder: Widespread And Versatile Enhancement For Code Large Language Models By Instruction Tuning},
  author  = {Yu, Zhaojian and Zhang, Xin and Shang, Ning and Huang, Yangyu and Xu, Can and Zhao, Yishujie and
             Hu, Wenxiang and Yin, Qiufeng},
  journal = {arXiv preprint arXiv:2312.14187},
  year    = {2023}
}"""
